"""Checkpoints in MMDetection's layout: atomic saving, loading from files/URLs/model zoos with a
readable load report."""

from detkit.checkpoint.integrity import (
    CheckpointError,
    check_checkpoint_file,
    checkpoint_problem,
    non_finite_tensors,
)
from detkit.checkpoint.loading import (
    load_checkpoint,
    load_state_dict,
    read_checkpoint,
    read_checkpoint_meta,
    unwrap_model,
)
from detkit.checkpoint.report import LoadReport
from detkit.checkpoint.saving import (
    get_state_dict,
    link_latest,
    save_checkpoint,
    to_cpu,
)
from detkit.checkpoint.sources import (
    hub_cache_path,
    resolve_checkpoint_path,
    torchvision_weights_url,
)

__all__ = [
    "CheckpointError",
    "check_checkpoint_file",
    "checkpoint_problem",
    "non_finite_tensors",
    "LoadReport",
    "get_state_dict",
    "hub_cache_path",
    "link_latest",
    "load_checkpoint",
    "load_state_dict",
    "read_checkpoint",
    "read_checkpoint_meta",
    "resolve_checkpoint_path",
    "save_checkpoint",
    "to_cpu",
    "torchvision_weights_url",
    "unwrap_model",
]
