"""Deformable convolutions (mmcv ``DCN`` / ``DCNv2``) on ``torchvision.ops.deform_conv2d``.

``DeformConv2dPack`` (``conv_cfg=dict(type='DCN')``) and ``ModulatedDeformConv2dPack``
(``type='DCNv2'``) predict their sampling offsets (and DCNv2's masks) with a plain convolution
named ``conv_offset``, as mmcv's, so MMDetection checkpoints load key for key: ``weight``,
``conv_offset.weight``, ``conv_offset.bias`` (and ``bias`` for a DCNv2 built with one).

Offsets are ``[B, 2 * deform_groups * kh * kw, H_out, W_out]``, ``(dy, dx)`` per kernel tap
(row-major) per deformable group; a sample at a fractional position is the bilinear
interpolation of its four neighbours, zero outside the map. DCNv2 multiplies each sample by
``sigmoid`` of its mask channel. torchvision's kernels compute exactly this, with gradients
for the input, the offsets, the masks and the weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

__all__ = [
    "DeformConv2d",
    "DeformConv2dPack",
    "ModulatedDeformConv2d",
    "ModulatedDeformConv2dPack",
]

_IntPair = int | tuple[int, int]


class _DeformConvBase(nn.Module):
    """Shapes and arguments shared by both deformable convolutions (mmcv's, ``im2col_step``
    accepted and ignored: torchvision picks its own batching)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntPair,
        stride: _IntPair = 1,
        padding: _IntPair = 0,
        dilation: _IntPair = 1,
        groups: int = 1,
        deform_groups: int = 1,
        im2col_step: int = 32,
        deformable_groups: int | None = None,
    ) -> None:
        super().__init__()
        if deformable_groups is not None:  # mmcv's deprecated spelling
            deform_groups = deformable_groups
        name = type(self).__name__
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(f"{name}: {key}={value} is not divisible by groups={groups}")
        if in_channels % deform_groups:
            raise ValueError(
                f"{name}: in_channels={in_channels} is not divisible by "
                f"deform_groups={deform_groups}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size: tuple[int, int] = _pair(kernel_size)
        self.stride: tuple[int, int] = _pair(stride)
        self.padding: tuple[int, int] = _pair(padding)
        self.dilation: tuple[int, int] = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.im2col_step = im2col_step
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size)
        )

    def _offset_conv(self, channels_per_tap: int) -> nn.Conv2d:
        """The ``conv_offset`` layer: same geometry as this conv, ``channels_per_tap`` outputs
        per kernel tap and deformable group, zero-initialised by the owner."""
        kh, kw = self.kernel_size
        return nn.Conv2d(
            self.in_channels,
            self.deform_groups * channels_per_tap * kh * kw,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True,
        )

    def _deform(
        self,
        x: torch.Tensor,
        offset: torch.Tensor,
        mask: torch.Tensor | None,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        if offset.dtype != x.dtype:
            offset = offset.to(x.dtype)
        out: torch.Tensor = deform_conv2d(
            x, offset, self.weight, bias, self.stride, self.padding, self.dilation, mask
        )
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"groups={self.groups}, deform_groups={self.deform_groups}"
        )


class DeformConv2d(_DeformConvBase):
    """Deformable convolution (DCNv1) with the offsets given: ``forward(x, offset)``.

    ``x`` ``[B, C_in, H, W]``, ``offset`` ``[B, 2 * deform_groups * kh * kw, H_out, W_out]``
    → ``[B, C_out, H_out, W_out]``. No bias (mmcv refuses ``bias=True``).
    """

    def __init__(self, *args: Any, bias: bool = False, **kwargs: Any) -> None:
        if bias:
            raise ValueError(f"{type(self).__name__}: bias=True is not supported (mmcv's DCN)")
        super().__init__(*args, **kwargs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight (fan_in, ReLU gain), as mmcv."""
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return self._deform(x, offset, None, None)


class DeformConv2dPack(DeformConv2d):
    """``DCN``: a DCNv1 that predicts its offsets from its input with ``conv_offset``
    (zero-initialised, so it starts as the plain convolution). ``[B, C_in, H, W]`` →
    ``[B, C_out, H_out, W_out]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conv_offset = self._offset_conv(2)
        self.init_offset()

    def init_offset(self) -> None:
        nn.init.zeros_(self.conv_offset.weight)
        assert self.conv_offset.bias is not None
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self._deform(x, self.conv_offset(x), None, None)


class ModulatedDeformConv2d(_DeformConvBase):
    """Modulated deformable convolution (DCNv2) with offsets and masks given:
    ``forward(x, offset, mask)``, ``mask`` ``[B, deform_groups * kh * kw, H_out, W_out]``
    (already in [0, 1]). Optional bias (default True, as mmcv)."""

    def __init__(self, *args: Any, bias: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels))
        else:
            self.register_parameter("bias", None)
        self.init_weights()

    def init_weights(self) -> None:
        """Weight uniform in ±1/sqrt(fan_in), bias 0 (mmcv's)."""
        bound = 1.0 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._deform(x, offset, mask.to(x.dtype), self.bias)


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """``DCNv2``: ``conv_offset`` predicts ``3 * deform_groups * kh * kw`` channels: the first
    two thirds are the offsets, the last third the mask logits (``sigmoid``). Zero-initialised
    (offsets 0, masks 0.5). ``[B, C_in, H, W]`` → ``[B, C_out, H_out, W_out]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conv_offset = self._offset_conv(3)
        self.init_weights()

    def init_weights(self) -> None:
        super().init_weights()
        offset_conv = getattr(self, "conv_offset", None)
        if isinstance(offset_conv, nn.Conv2d):
            nn.init.zeros_(offset_conv.weight)
            assert offset_conv.bias is not None
            nn.init.zeros_(offset_conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = self.conv_offset(x)
        taps = out.size(1) // 3
        return self._deform(x, out[:, : 2 * taps], out[:, 2 * taps :].sigmoid(), self.bias)
