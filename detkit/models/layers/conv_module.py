"""``ConvModule``: conv → optional norm → optional activation, with mmcv's parameter names.

Parameters live at ``<name>.conv.*`` (any ``conv_cfg`` type: plain, ``ConvWS``, ``DCN``,
``DCNv2``) and ``<name>.<norm name>.*`` (``bn``/``gn``/...), so MMDetection-v2 checkpoints
load unchanged. Heads, necks and backbones build every conv + norm block through it (or
through ``build_conv_layer`` / ``build_norm_layer`` where mmdet names the parts itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers.conv import build_conv_layer
from detkit.models.layers.norm import build_norm_layer
from detkit.models.layers.weight_init import constant_init, kaiming_init

__all__ = ["ConvModule", "build_norm_layer", "build_activation"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "ReLU6": nn.ReLU6,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,
    "GELU": nn.GELU,
    "Sigmoid": nn.Sigmoid,
}


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
        conv_cfg: None (``Conv2d``) or a ``build_conv_layer`` dict: ``ConvWS``, ``DCN``,
            ``DCNv2``, ...
        norm_cfg: a ``build_norm_layer`` dict, e.g. ``dict(type='BN')`` or
            ``dict(type='GN', num_groups=32)``; None for no norm.
        act_cfg: e.g. ``dict(type='ReLU')`` (default); None for no activation.
        inplace: in-place activation.
        order: the order of ``'conv'``, ``'norm'``, ``'act'`` (a norm before the conv
            normalises ``in_channels``).

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
        order: tuple[str, str, str] = ("conv", "norm", "act"),
    ) -> None:
        super().__init__()
        if bias != "auto" and not isinstance(bias, bool):
            raise TypeError(f"bias must be 'auto' or a bool, got {bias!r}")
        if not isinstance(order, tuple) or sorted(order) != ["act", "conv", "norm"]:
            raise ValueError(
                f"ConvModule order must be a tuple ordering 'conv', 'norm', 'act', got {order!r}"
            )
        self.order = order
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.act_cfg = dict(act_cfg) if act_cfg is not None else None
        use_bias = (not self.with_norm) if bias == "auto" else bias
        self.conv = build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=use_bias,
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_name: str | None = None
        if norm_cfg is not None:
            norm_channels = (
                out_channels if order.index("norm") > order.index("conv") else in_channels
            )
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
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
        """mmcv default: Kaiming-normal (fan_out) for a conv without its own ``init_weights``
        (DCNv2 has one), norm weight 1 / bias 0."""
        if not hasattr(self.conv, "init_weights"):
            leaky = self.act_cfg is not None and self.act_cfg["type"] == "LeakyReLU"
            if leaky:
                assert self.act_cfg is not None
                nonlinearity, a = "leaky_relu", self.act_cfg.get("negative_slope", 0.01)
            else:
                nonlinearity, a = "relu", 0
            kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
        if self.norm is not None:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and self.norm_name is not None:
                x = getattr(self, self.norm_name)(x)
            elif layer == "act" and self.with_activation:
                x = self.activate(x)
        return x
