"""``build_detector``: a detector from a config's ``model`` dict."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from detkit.registry import MODELS, build

__all__ = ["build_detector"]


def build_detector(
    cfg: Mapping[str, Any],
    train_cfg: Mapping[str, Any] | None = None,
    test_cfg: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Build ``cfg`` (``model`` of an MMDetection-v2 config) from the ``MODELS`` registry.

    ``train_cfg``/``test_cfg`` given here are the pre-v2.9 top-level spellings; they may not
    also be set inside ``cfg``. No checkpoint is loaded: call ``model.init_weights()`` for
    ``Pretrained`` sources.
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"build_detector expects the model config dict, got {type(cfg).__name__}")
    cfg = dict(cfg)
    for key, value in (("train_cfg", train_cfg), ("test_cfg", test_cfg)):
        if value is None:
            continue
        warnings.warn(
            f"{key} given to build_detector is deprecated; set model.{key} in the config",
            UserWarning,
            stacklevel=2,
        )
        if cfg.get(key) is not None:
            raise ValueError(f"{key} is set both in the model config and as an argument")
        cfg[key] = value
    model: nn.Module = build(cfg, MODELS, key_path="model")
    return model
