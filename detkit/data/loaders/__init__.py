"""Data loaders: padded collate, aspect-ratio group samplers and ``build_dataloader``."""

from detkit.data.loaders.builder import build_dataloader, get_dist_info, worker_init_fn
from detkit.data.loaders.collate import collate, pad_and_stack
from detkit.data.loaders.samplers import DistributedGroupSampler, GroupSampler

__all__ = [
    "DistributedGroupSampler",
    "GroupSampler",
    "build_dataloader",
    "collate",
    "get_dist_info",
    "pad_and_stack",
    "worker_init_fn",
]
