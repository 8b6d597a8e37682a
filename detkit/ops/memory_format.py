"""Memory layouts the kernels read fastest: channels_last for CPU convolutions
(``channels_last`` models) and the layout RoIAlign pools from.

RoIs are pooled from float32 maps (bf16 would round their coordinates) in the layout the
RoIAlign of their device reads without a copy: channels_last on CPU (``detkit.ops.RoIAlign``'s
GEMMs read the crop in place), contiguous NCHW elsewhere (torchvision's kernels). A map in
another layout or precision would be converted once per pooling call (twice per level for
Mask R-CNN, six times for the cascade), so detectors convert it once with
:func:`roi_pooling_layout`.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["roi_pooling_layout", "to_channels_last"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` with channels_last strides (``x`` itself when already so)."""
    return x.contiguous(memory_format=torch.channels_last)


def roi_pooling_layout(feat: torch.Tensor) -> torch.Tensor:
    """``feat`` ``[B, C, H, W]`` in float32 (when half or bf16) and in the layout RoIAlign reads
    on its device; ``feat`` itself when already so."""
    layout = torch.channels_last if feat.device.type == "cpu" else torch.contiguous_format
    if feat.is_contiguous(memory_format=layout) and feat.dtype not in _LOW_PRECISION:
        return feat
    dtype = torch.float32 if feat.dtype in _LOW_PRECISION else feat.dtype
    if (layout is torch.channels_last and feat.dtype == dtype and feat.is_contiguous()
            and feat.requires_grad and torch.is_grad_enabled()):
        return _ChannelsLastNCHWGrad.apply(feat)
    return feat.to(dtype=dtype, memory_format=layout)


class _ChannelsLastNCHWGrad(torch.autograd.Function):
    """A channels_last copy of an NCHW-contiguous map whose gradient comes back NCHW.

    RoIAlign's gradient is channels_last; passed back as it is, autograd adds it to the map's
    other (NCHW) gradients in mixed layouts and the conv that made the map copies the sum
    to NCHW again. Converted here, once, after the RoI heads' gradients are summed."""

    @staticmethod
    def forward(ctx: Any, feat: torch.Tensor) -> torch.Tensor:
        return feat.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()
