"""``build_dataset``: a dataset from its config (MMDetection v2 ``build_dataset``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.data.datasets.wrappers import ConcatDataset, RepeatDataset
from detkit.registry import DATASETS, build

__all__ = ["build_dataset"]


def build_dataset(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """Build a dataset.

    Args:
        cfg: a dataset config (``dict(type='CityscapesDataset', ann_file=..., pipeline=...)``),
            a ``RepeatDataset``/``ConcatDataset`` config, a list of configs (concatenated), or a
            built dataset (returned as is).
        default_args: keyword arguments used when absent from the config (e.g. ``test_mode``).
    """
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if isinstance(cfg, Mapping) and cfg.get("type") == "RepeatDataset":
        return RepeatDataset(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if isinstance(cfg, Mapping) and cfg.get("type") == "ConcatDataset":
        return ConcatDataset(
            [build_dataset(c, default_args) for c in cfg["datasets"]],
            cfg.get("separate_eval", True),
        )
    return build(cfg, DATASETS, default_args, key_path="data")
