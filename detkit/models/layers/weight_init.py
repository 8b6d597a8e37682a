"""mmcv-style weight initialisers (the numbers MMDetection v2 uses) and ``init_cfg`` handling.

``apply_init_cfg(module, init_cfg)`` understands the mmcv ``init_cfg`` dicts found in configs:
``Kaiming``, ``Xavier``, ``Normal``, ``Constant`` (with ``layer=`` class names and ``override=``
child names). ``Pretrained`` is not handled here (it needs checkpoint loading; see
``detkit.models.detectors.init``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch.nn as nn

__all__ = [
    "kaiming_init",
    "xavier_init",
    "normal_init",
    "constant_init",
    "apply_init_cfg",
]


def _init_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0,
    mode: str = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0,
    distribution: str = "normal",
) -> None:
    """Kaiming init of ``module.weight`` (mmcv defaults: fan_out, relu, normal), bias constant."""
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _init_bias(module, bias)


def xavier_init(
    module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal"
) -> None:
    """Xavier init of ``module.weight`` (uniform or normal), bias constant."""
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        fn = nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_
        fn(module.weight, gain=gain)
    _init_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    """Normal(mean, std) init of ``module.weight``, bias constant."""
    if getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, mean, std)
    _init_bias(module, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Constant init of ``module.weight`` and ``module.bias``."""
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    _init_bias(module, bias)


def _layer_matches(module: nn.Module, layers: Iterable[str]) -> bool:
    names = {cls.__name__ for cls in type(module).__mro__}
    if "_BatchNorm" in layers and isinstance(module, nn.modules.batchnorm._BatchNorm):
        return True
    return bool(names & set(layers))


def _init_one(module: nn.Module, cfg: Mapping[str, Any]) -> None:
    kind = cfg["type"]
    args = {k: v for k, v in cfg.items() if k not in ("type", "layer", "override", "name")}
    if kind == "Kaiming":
        kaiming_init(module, **args)
    elif kind == "Xavier":
        xavier_init(module, **args)
    elif kind == "Normal":
        normal_init(module, **args)
    elif kind == "Constant":
        constant_init(module, **args)
    else:
        raise KeyError(
            f"init_cfg type {kind!r} is not supported here; expected one of "
            "Kaiming, Xavier, Normal, Constant (Pretrained is handled by the detector)"
        )


def apply_init_cfg(module: nn.Module, init_cfg: Mapping[str, Any] | list | None) -> None:
    """Apply an mmcv ``init_cfg`` (dict or list of dicts) to ``module`` and its sub-modules.

    ``layer`` restricts the initialiser to sub-modules of those class names; ``override``
    (dict or list with ``name``) applies a different initialiser to named children.
    """
    if init_cfg is None:
        return
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if not isinstance(cfg, Mapping) or "type" not in cfg:
            raise TypeError(f"init_cfg entries must be dicts with a 'type' key, got {cfg!r}")
        if cfg["type"] == "Pretrained":
            continue
        layers = cfg.get("layer")
        layers = [layers] if isinstance(layers, str) else list(layers or [])
        overrides = cfg.get("override") or []
        overrides = [overrides] if isinstance(overrides, Mapping) else list(overrides)
        override_names = {o["name"] for o in overrides}
        if layers:
            for name, sub in module.named_modules():
                if name.split(".")[0] in override_names:
                    continue
                if _layer_matches(sub, layers):
                    _init_one(sub, cfg)
        for o in overrides:
            target = getattr(module, o["name"], None)
            if target is None:
                raise KeyError(
                    f"init_cfg override names {o['name']!r}, which "
                    f"{type(module).__name__} does not have"
                )
            o_cfg = dict(o)
            o_cfg.setdefault("type", cfg["type"])
            if o_cfg["type"] == cfg["type"]:
                for k, v in cfg.items():
                    if k not in ("layer", "override"):
                        o_cfg.setdefault(k, v)
            _init_one(target, o_cfg)
