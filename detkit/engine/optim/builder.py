"""Build an optimizer from an mmcv-style config (``optimizer = dict(type='SGD', lr=0.02,
momentum=0.9, weight_decay=1e-4, paramwise_cfg=...)``).

``torch.optim`` SGD, Adam and AdamW (plus every other ``torch.optim.Optimizer``) are registered
in ``OPTIMIZERS``; users may register their own. Without ``paramwise_cfg`` all parameters that
require grad form one group. ``paramwise_cfg`` supports mmcv's ``bias_lr_mult``,
``bias_decay_mult``, ``norm_decay_mult`` and ``custom_keys={'name': dict(lr_mult, decay_mult)}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from detkit.registry import OPTIMIZERS, build

__all__ = ["build_optimizer"]

for _name, _cls in inspect.getmembers(torch.optim, inspect.isclass):
    if (
        issubclass(_cls, torch.optim.Optimizer)
        and _cls is not torch.optim.Optimizer
        and _name not in OPTIMIZERS
    ):
        OPTIMIZERS.register_module(module=_cls)

_PARAMWISE_KEYS = {"bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "custom_keys"}
_NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def _param_groups(
    model: nn.Module, base_lr: float, base_decay: float, paramwise: Mapping[str, Any]
) -> list[dict]:
    unknown = set(paramwise) - _PARAMWISE_KEYS
    if unknown:
        raise KeyError(
            f"optimizer.paramwise_cfg: unknown keys {sorted(unknown)}; supported "
            f"{sorted(_PARAMWISE_KEYS)}"
        )
    custom_keys = dict(paramwise.get("custom_keys", {}))
    groups = []
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            full_name = f"{module_name}.{name}" if module_name else name
            lr, decay = base_lr, base_decay
            matched = [
                key for key in sorted(custom_keys, key=len, reverse=True) if key in full_name
            ]
            if matched:
                options = custom_keys[matched[0]]
                lr *= options.get("lr_mult", 1.0)
                decay *= options.get("decay_mult", 1.0)
            elif isinstance(module, _NORM_TYPES):
                decay *= paramwise.get("norm_decay_mult", 1.0)
            elif name == "bias":
                lr *= paramwise.get("bias_lr_mult", 1.0)
                decay *= paramwise.get("bias_decay_mult", 1.0)
            groups.append({"params": [param], "lr": lr, "weight_decay": decay})
    return groups


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Optimizer over ``model``'s parameters (a DDP wrapper is unwrapped) from ``cfg``."""
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise KeyError(f"`optimizer` must be a dict with a 'type' key, got {cfg!r}")
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    options = dict(cfg)
    paramwise = options.pop("paramwise_cfg", None)
    options.pop("constructor", None)
    if paramwise:
        params: Any = _param_groups(
            model, options.get("lr", 0.0), options.get("weight_decay", 0.0), paramwise
        )
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    return build(options, OPTIMIZERS, default_args={"params": params}, key_path="optimizer")
