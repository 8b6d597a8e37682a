"""Memory layouts the kernels read fastest: channels_last for CPU convolutions
(``channels_last`` models) and the layout RoIAlign pools from, and :func:`relayout`, the
conversion between NCHW and channels_last in cache-sized channel blocks.

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

__all__ = ["relayout", "roi_pooling_layout", "to_channels_last"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` with channels_last strides (``x`` itself when already so)."""
    return x.contiguous(memory_format=torch.channels_last)


_CHANNEL_BLOCK = 16  # channels per copy in relayout (the fastest block measured)


def relayout(x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` copied into ``memory_format``; on CPU 16 channels at a time, which
    keeps each block's transpose in cache (PyTorch's single copy between NCHW and
    channels_last strides reads or writes the whole map with a stride of C or H·W)."""
    if x.device.type != "cpu" or x.dim() != 4 or x.is_contiguous(memory_format=memory_format):
        return x.contiguous(memory_format=memory_format)
    out = torch.empty_like(x, memory_format=memory_format)
    for start in range(0, x.size(1), _CHANNEL_BLOCK):
        out[:, start : start + _CHANNEL_BLOCK].copy_(x[:, start : start + _CHANNEL_BLOCK])
    return out


def roi_pooling_layout(feat: torch.Tensor) -> torch.Tensor:
    """``feat`` ``[B, C, H, W]`` in float32 (when half or bf16) and in the layout RoIAlign reads
    on its device; ``feat`` itself when already so."""
    layout = torch.channels_last if feat.device.type == "cpu" else torch.contiguous_format
    if feat.is_contiguous(memory_format=layout) and feat.dtype not in _LOW_PRECISION:
        return feat
    dtype = torch.float32 if feat.dtype in _LOW_PRECISION else feat.dtype
    if (
        layout is torch.channels_last
        and feat.dtype == dtype
        and feat.is_contiguous()
        and feat.requires_grad
        and torch.is_grad_enabled()
    ):
        return _ChannelsLastNCHWGrad.apply(feat)
    if feat.dtype == dtype and not (feat.requires_grad and torch.is_grad_enabled()):
        return relayout(feat, layout)
    return feat.to(dtype=dtype, memory_format=layout)


class _ChannelsLastNCHWGrad(torch.autograd.Function):
    """A channels_last copy of an NCHW-contiguous map whose gradient comes back NCHW.

    RoIAlign's gradient is channels_last; passed back as it is, autograd adds it to the map's
    other (NCHW) gradients in mixed layouts and the conv that made the map copies the sum
    to NCHW again. Converted here, once, after the RoI heads' gradients are summed."""

    @staticmethod
    def forward(ctx: Any, feat: torch.Tensor) -> torch.Tensor:
        return relayout(feat, torch.channels_last)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return relayout(grad, torch.contiguous_format)
