"""The values detkit uses for keys a config leaves out, in one table (MMDetection v2.28's code
defaults; the configs under ``configs/_base_/`` normally set them all), and the readers that
apply it: :func:`setting`, :func:`loader_settings` (the data-loader arguments of a split, as
mmdet 2.28's ``compat_loader_args``) and :func:`evaluation_kwargs` (``cfg.evaluation`` without
the keys that configure the evaluation hook rather than ``dataset.evaluate``).

>>> from detkit.config import Config
>>> cfg = Config(dict(data=dict(workers_per_gpu=0, test=dict(samples_per_gpu=4)),
...                   evaluation=dict(interval=2, metric=["bbox"], classwise=True)))
>>> loader_settings(cfg, "test")
{'samples_per_gpu': 4, 'workers_per_gpu': 0}
>>> evaluation_kwargs(cfg)
{'metric': ['bbox'], 'classwise': True}
>>> setting(cfg, "log_config.interval")
50
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from detkit.config.config import Config

__all__ = ["DEFAULTS", "EVAL_HOOK_KEYS", "evaluation_kwargs", "loader_settings", "setting"]

# dotted key -> the value used when the config does not set it
DEFAULTS: Mapping[str, Any] = {
    "log_level": "INFO",
    "workflow": [("train", 1)],
    "cudnn_benchmark": False,
    "dist_params": {},
    "find_unused_parameters": False,
    "sync_bn": False,
    "device_augment": False,
    "log_config.interval": 50,
    "log_config.hooks": [{"type": "TextLoggerHook"}],
    "data.samples_per_gpu": 2,  # training batch per GPU
    "data.workers_per_gpu": 2,  # every split's loader workers
    "data.val.samples_per_gpu": 1,
    "data.test.samples_per_gpu": 1,
}

# keys of ``cfg.evaluation`` that configure the evaluation hook (when and how often it runs,
# where its results are gathered, which checkpoint it keeps), not ``dataset.evaluate``
EVAL_HOOK_KEYS = (
    "interval",
    "start",
    "by_epoch",
    "save_best",
    "rule",
    "dynamic_intervals",
    "tmpdir",
    "gpu_collect",
    "broadcast_bn_buffer",
)

_MISSING = object()
# a loaded ``Config`` or a plain (nested) dict of the same keys
ConfigLike = Config | Mapping[str, Any]


def _lookup(cfg: ConfigLike, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, (Mapping, Config)) or part not in node:
            return _MISSING
        node = node[part]
    return node


def setting(cfg: ConfigLike, key: str) -> Any:
    """The value of dotted ``key`` in ``cfg`` (``None`` counts as unset), else a copy of
    :data:`DEFAULTS` ``[key]``.

    Raises:
        KeyError: ``key`` is neither in ``cfg`` nor in :data:`DEFAULTS`.
    """
    value = _lookup(cfg, key)
    if value is not _MISSING and value is not None:
        return value
    if key not in DEFAULTS:
        raise KeyError(f"config has no `{key}` and detkit has no default for it")
    return copy.deepcopy(DEFAULTS[key])


def loader_settings(cfg: ConfigLike, split: Literal["train", "val", "test"]) -> dict[str, Any]:
    """The data-loader arguments of ``split``: ``samples_per_gpu`` and ``workers_per_gpu``
    (plus ``persistent_workers`` for training when set), from ``data.<split>.samples_per_gpu``
    (val/test) or ``data.samples_per_gpu`` (train) and ``data.workers_per_gpu``, overridden by
    ``data.<split>_dataloader`` (mmdet 2.28's ``compat_loader_args``)."""
    data = cfg.get("data") or {}
    split_cfg = data.get(split)
    if split == "train":
        args = {
            "samples_per_gpu": setting(cfg, "data.samples_per_gpu"),
            "workers_per_gpu": setting(cfg, "data.workers_per_gpu"),
        }
        if data.get("persistent_workers") is not None:
            args["persistent_workers"] = data["persistent_workers"]
    else:
        per_split = split_cfg.get("samples_per_gpu") if isinstance(split_cfg, Mapping) else None
        args = {
            "samples_per_gpu": per_split or DEFAULTS[f"data.{split}.samples_per_gpu"],
            "workers_per_gpu": setting(cfg, "data.workers_per_gpu"),
        }
    args.update(dict(data.get(f"{split}_dataloader") or {}))
    return args


def evaluation_kwargs(cfg: ConfigLike) -> dict[str, Any]:
    """``cfg.evaluation`` without :data:`EVAL_HOOK_KEYS`: the arguments of
    ``dataset.evaluate`` (``metric``, ``classwise``, ``iou_thrs``, ...)."""
    evaluation = cfg.get("evaluation") or {}
    return {k: v for k, v in evaluation.items() if k not in EVAL_HOOK_KEYS}
