"""mmcv-style weight initialisers (the numbers MMDetection v2 uses) and ``init_cfg`` handling.

``apply_init_cfg(module, init_cfg)`` understands the mmcv ``init_cfg`` dicts found in configs:
``Kaiming``, ``Caffe2Xavier``, ``Xavier``, ``Normal``, ``TruncNormal``, ``Uniform``,
``Constant`` (with ``layer=`` class names and ``override=`` child names), in mmcv's order: each
dict in turn over every matching sub-module (post-order, which visits the leaves in
registration order), then its overrides on the named children and everything below them.
``Pretrained`` is not handled here (it needs checkpoint loading; the detector's
``init_weights`` loads it).

``init_children(module)`` is the rest of mmcv's ``BaseModule.init_weights``: it calls
``init_weights()`` of each direct child that has one. A module that mirrors an mmcv
``BaseModule`` initialises as ``apply_init_cfg(self, self.init_cfg); init_children(self)``,
so a seed gives the same values as MMDetection's ``build(...); init_weights()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn as nn

__all__ = [
    "kaiming_init",
    "caffe2_xavier_init",
    "xavier_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "constant_init",
    "apply_init_cfg",
    "init_children",
]


def _param(module: nn.Module, name: str) -> torch.Tensor | None:
    value = getattr(module, name, None)
    return value if isinstance(value, torch.Tensor) else None


def _init_bias(module: nn.Module, bias: float) -> None:
    value = _param(module, "bias")
    if value is not None:
        nn.init.constant_(value, bias)


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
    weight = _param(module, "weight")
    if weight is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(weight, a=a, mode=cast(Any, mode), nonlinearity=cast(Any, nonlinearity))
    _init_bias(module, bias)


def xavier_init(
    module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal"
) -> None:
    """Xavier init of ``module.weight`` (uniform or normal), bias constant."""
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    weight = _param(module, "weight")
    if weight is not None:
        fn = nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_
        fn(weight, gain=gain)
    _init_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    """Normal(mean, std) init of ``module.weight``, bias constant."""
    weight = _param(module, "weight")
    if weight is not None:
        nn.init.normal_(weight, mean, std)
    _init_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    """Caffe2's "Xavier": Kaiming-uniform with ``a=1``, fan_in, leaky-ReLU gain (mmcv's)."""
    kaiming_init(
        module, a=1, mode="fan_in", nonlinearity="leaky_relu", bias=bias, distribution="uniform"
    )


def trunc_normal_init(
    module: nn.Module,
    mean: float = 0,
    std: float = 1,
    a: float = -2,
    b: float = 2,
    bias: float = 0,
) -> None:
    """Normal(mean, std) truncated to ``[a, b]`` for ``module.weight``, bias constant."""
    weight = _param(module, "weight")
    if weight is not None:
        nn.init.trunc_normal_(weight, mean, std, a, b)
    _init_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    """Uniform(a, b) for ``module.weight``, bias constant."""
    weight = _param(module, "weight")
    if weight is not None:
        nn.init.uniform_(weight, a, b)
    _init_bias(module, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Constant init of ``module.weight`` and ``module.bias``."""
    weight = _param(module, "weight")
    if weight is not None:
        nn.init.constant_(weight, val)
    _init_bias(module, bias)


def _layer_matches(module: nn.Module, layers: Iterable[str]) -> bool:
    names = {cls.__name__ for cls in type(module).__mro__}
    if "_BatchNorm" in layers and isinstance(module, nn.modules.batchnorm._BatchNorm):
        return True
    return bool(names & set(layers))


def _init_one(module: nn.Module, cfg: Mapping[str, Any]) -> None:
    kind = cfg["type"]
    args = {k: v for k, v in cfg.items() if k not in ("type", "layer", "override", "name")}
    if kind not in _INITIALISERS:
        raise KeyError(
            f"init_cfg type {kind!r} is not supported here; expected one of "
            f"{sorted(_INITIALISERS)} (Pretrained is handled by the detector)"
        )
    if "bias_prob" in args:  # mmcv: bias = -log((1 - p) / p)
        prob = args.pop("bias_prob")
        args["bias"] = float(-math.log((1 - prob) / prob))
    _INITIALISERS[kind](module, **args)


_INITIALISERS: dict[str, Callable[..., None]] = {
    "Kaiming": kaiming_init,
    "Caffe2Xavier": caffe2_xavier_init,
    "Xavier": xavier_init,
    "Normal": normal_init,
    "TruncNormal": trunc_normal_init,
    "Uniform": uniform_init,
    "Constant": constant_init,
}


def _leaves_first(module: nn.Module) -> list[nn.Module]:
    """``module`` and its sub-modules in ``nn.Module.apply`` order (children before parent)."""
    order: list[nn.Module] = []
    module.apply(order.append)
    return order


def apply_init_cfg(
    module: nn.Module, init_cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
) -> None:
    """Apply an mmcv ``init_cfg`` (dict or list of dicts) to ``module`` and its sub-modules.

    ``layer`` restricts the initialiser to sub-modules of those class names (``_BatchNorm``
    matches every BatchNorm); without ``layer`` only the overrides apply. ``override`` (dict
    or list with ``name``) then initialises the named children, and every module below them,
    with its own settings (missing ones taken from the parent dict).
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
        for sub in _leaves_first(module):
            if layers and _layer_matches(sub, layers):
                _init_one(sub, cfg)
        overrides = cfg.get("override") or []
        overrides = [overrides] if isinstance(overrides, Mapping) else list(overrides)
        for o in overrides:
            target = getattr(module, o["name"], None)
            if not isinstance(target, nn.Module):
                raise KeyError(
                    f"init_cfg override names {o['name']!r}, which "
                    f"{type(module).__name__} does not have"
                )
            o_cfg = dict(o)
            if "type" not in o_cfg:
                o_cfg.update({k: v for k, v in cfg.items() if k not in ("layer", "override")})
            for sub in _leaves_first(target):
                if sub is target or getattr(sub, "weight", None) is not None:
                    _init_one(sub, o_cfg)


def init_children(module: nn.Module) -> None:
    """Call ``init_weights()`` of every direct child of ``module`` that has one (the recursion
    of mmcv's ``BaseModule.init_weights``)."""
    for child in module.children():
        init = getattr(child, "init_weights", None)
        if callable(init):
            init()
