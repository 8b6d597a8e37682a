"""``ConvModule``: conv → optional norm → optional activation, with mmcv's parameter names.

Parameters live at ``<name>.conv.weight/bias`` and ``<name>.<norm name>.*`` (``bn``/``gn``),
so MMDetection-v2 checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers.weight_init import constant_init, kaiming_init
from detkit.ops import Conv2d

__all__ = ["ConvModule", "build_norm_layer", "build_activation"]

_NORM_LAYERS: dict[str, tuple[type[nn.Module], str]] = {
    "BN": (nn.BatchNorm2d, "bn"),
    "BN2d": (nn.BatchNorm2d, "bn"),
    "SyncBN": (nn.SyncBatchNorm, "bn"),
    "GN": (nn.GroupNorm, "gn"),
}
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "ReLU6": nn.ReLU6,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,
    "GELU": nn.GELU,
    "Sigmoid": nn.Sigmoid,
}


def build_norm_layer(
    norm_cfg: Mapping[str, Any], num_features: int, postfix: int | str = ""
) -> tuple[str, nn.Module]:
    """Build a norm layer from ``dict(type='BN'|'SyncBN'|'GN', requires_grad=True, ...)``.

    Returns ``(name, layer)`` with mmcv's names (``bn1``, ``gn``, ...). ``requires_grad``
    sets the affine parameters' flag.
    """
    if not isinstance(norm_cfg, Mapping) or "type" not in norm_cfg:
        raise TypeError(f"norm_cfg must be a dict with a 'type' key, got {norm_cfg!r}")
    cfg = dict(norm_cfg)
    kind = cfg.pop("type")
    if kind not in _NORM_LAYERS:
        raise KeyError(f"norm_cfg type {kind!r} is unknown; expected one of {sorted(_NORM_LAYERS)}")
    layer_cls, abbr = _NORM_LAYERS[kind]
    requires_grad = cfg.pop("requires_grad", True)
    cfg.setdefault("eps", 1e-5)
    if kind == "GN":
        if "num_groups" not in cfg:
            raise KeyError(f"norm_cfg {dict(norm_cfg)!r}: GN needs 'num_groups'")
        layer = nn.GroupNorm(num_channels=num_features, **cfg)
    else:
        layer = layer_cls(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f"{abbr}{postfix}", layer


def build_activation(act_cfg: Mapping[str, Any]) -> nn.Module:
    """Build an activation from ``dict(type='ReLU', inplace=True)`` and friends."""
    cfg = dict(act_cfg)
    kind = cfg.pop("type", None)
    if kind not in _ACTIVATIONS:
        raise KeyError(f"act_cfg type {kind!r} is unknown; expected one of {sorted(_ACTIVATIONS)}")
    if kind in ("Sigmoid", "GELU"):
        cfg.pop("inplace", None)
    return _ACTIVATIONS[kind](**cfg)


class ConvModule(nn.Module):
    """Conv2d followed by an optional norm layer and activation (mmcv ``ConvModule``).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups: as Conv2d.
        bias: ``'auto'`` means a bias only when there is no norm layer.
        conv_cfg: None / ``dict(type='Conv2d')`` (only plain convs are supported).
        norm_cfg: e.g. ``dict(type='BN')``; None for no norm.
        act_cfg: e.g. ``dict(type='ReLU')`` (default); None for no activation.
        inplace: in-place activation.

    Input/output: ``[B, C, H, W]`` float tensors.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        act_cfg: Mapping[str, Any] | None = {"type": "ReLU"},  # noqa: B006 - read only
        inplace: bool = True,
    ) -> None:
        super().__init__()
        if conv_cfg is not None and conv_cfg.get("type", "Conv2d") not in ("Conv2d", "Conv"):
            raise KeyError(f"conv_cfg type {conv_cfg.get('type')!r} is not supported; use Conv2d")
        if bias != "auto" and not isinstance(bias, bool):
            raise TypeError(f"bias must be 'auto' or a bool, got {bias!r}")
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.act_cfg = dict(act_cfg) if act_cfg is not None else None
        use_bias = (not self.with_norm) if bias == "auto" else bias
        self.conv = Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, use_bias
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_name: str | None = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        if act_cfg is not None:
            act = dict(act_cfg)
            if act["type"] not in ("Sigmoid", "GELU"):
                act.setdefault("inplace", inplace)
            self.activate = build_activation(act)
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        """mmcv default: Kaiming-normal (fan_out) for the conv, norm weight 1 / bias 0."""
        if self.with_activation and self.act_cfg["type"] == "LeakyReLU":
            nonlinearity, a = "leaky_relu", self.act_cfg.get("negative_slope", 0.01)
        else:
            nonlinearity, a = "relu", 0
        kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_name is not None:
            x = self.norm(x)
        if self.with_activation:
            x = self.activate(x)
        return x
