"""Convolutions from mmcv ``conv_cfg`` dicts: ``build_conv_layer`` and weight-standardised
``ConvWS``.

``conv_cfg`` types: ``None`` / ``Conv`` / ``Conv2d`` (``detkit.ops.Conv2d``: ``nn.Conv2d``
with the faster CPU kernels), ``ConvWS`` (:class:`ConvWS2d`), ``DCN`` / ``DCNv2``
(:mod:`detkit.models.layers.deform_conv`), ``deconv`` (transposed convolution).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers.deform_conv import DeformConv2dPack, ModulatedDeformConv2dPack
from detkit.ops import Conv2d, ConvTranspose2d

__all__ = ["CONV_TYPES", "ConvWS2d", "build_conv_layer", "conv_ws_2d"]


def conv_ws_2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Convolution of ``x`` ``[B, C_in, H, W]`` with ``weight`` standardised per output
    channel: ``(w - mean) / (std + eps)`` over its ``C_in/groups · kh · kw`` values (unbiased
    std, as mmcv's ``conv_ws_2d``)."""
    flat = weight.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1).view(-1, 1, 1, 1)
    standard = (weight - mean) / (std + eps)
    return torch.nn.functional.conv2d(x, standard, bias, stride, padding, dilation, groups)


class ConvWS2d(Conv2d):
    """``conv_cfg=dict(type='ConvWS')``: ``nn.Conv2d`` with weight standardisation
    (Qiao et al., 2019), keys ``weight``/``bias`` as a plain conv. ``eps`` (default 1e-5) is
    added to the standard deviation. ``[B, C_in, H, W]`` → ``[B, C_out, H', W']``."""

    def __init__(self, *args: Any, eps: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_ws_2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.eps,
        )


CONV_TYPES: dict[str, Callable[..., nn.Module]] = {
    "Conv": Conv2d,
    "Conv2d": Conv2d,
    "ConvWS": ConvWS2d,
    "DCN": DeformConv2dPack,
    "DCNv2": ModulatedDeformConv2dPack,
    "deconv": ConvTranspose2d,
}


def build_conv_layer(cfg: Mapping[str, Any] | None, *args: Any, **kwargs: Any) -> nn.Module:
    """Build the convolution of ``cfg`` (``None`` = ``Conv2d``) with the positional and keyword
    arguments of ``nn.Conv2d`` (``in_channels, out_channels, kernel_size, stride, padding,
    dilation, groups, bias``) plus ``cfg``'s own keys (e.g. ``deform_groups`` for DCN)."""
    if cfg is None:
        cfg = {"type": "Conv2d"}
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(f"conv_cfg must be None or a dict with a 'type' key, got {cfg!r}")
    kind = cfg["type"]
    if kind not in CONV_TYPES:
        raise KeyError(f"conv_cfg type {kind!r} is unknown; expected one of {sorted(CONV_TYPES)}")
    extra = {k: v for k, v in cfg.items() if k != "type"}
    return CONV_TYPES[kind](*args, **kwargs, **extra)
