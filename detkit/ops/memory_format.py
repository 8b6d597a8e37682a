"""Memory layouts the kernels read fastest: channels_last for CPU convolutions
(``channels_last`` models), the layout RoIAlign pools from, a layer run on channels_last
strides where that measured faster (:func:`channels_last_where_faster`, the ResNet stem), and
:func:`relayout`, the conversion between NCHW and channels_last in cache-sized channel blocks.

RoIs are pooled from float32 maps (bf16 would round their coordinates) in the layout the
RoIAlign of their device reads without a copy: channels_last on CPU with fast kernels on
(``detkit.ops.RoIAlign``'s GEMMs read the crop in place), contiguous NCHW otherwise
(torchvision's kernels). A map in another layout or precision would be converted once per
pooling call (twice per level for Mask R-CNN, six times for the cascade), so detectors convert
it once with :func:`roi_pooling_layout`. With ``detkit.ops.fast_kernels(False)`` every
conversion is PyTorch's own ``contiguous`` and no layer changes layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from detkit.ops import tuner
from detkit.ops.shape_class import map_class
from detkit.ops.switch import STOCK, fast_kernels_enabled, traced

__all__ = ["channels_last_where_faster", "relayout", "roi_pooling_layout", "to_channels_last"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` with channels_last strides (``x`` itself when already so)."""
    return x.contiguous(memory_format=torch.channels_last)


_CHANNEL_BLOCK = 16  # channels per copy in relayout (the fastest block measured)


def relayout(x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` copied into ``memory_format``; on CPU 16 channels at a time, which
    keeps each block's transpose in cache (PyTorch's single copy between NCHW and
    channels_last strides reads or writes the whole map with a stride of C or H·W)."""
    if (
        not fast_kernels_enabled()
        or x.device.type != "cpu"
        or x.dim() != 4
        or x.is_contiguous(memory_format=memory_format)
    ):
        return x.contiguous(memory_format=memory_format)
    out = torch.empty_like(x, memory_format=memory_format)
    for start in range(0, x.size(1), _CHANNEL_BLOCK):
        out[:, start : start + _CHANNEL_BLOCK].copy_(x[:, start : start + _CHANNEL_BLOCK])
    return out


def roi_pooling_layout(feat: torch.Tensor) -> torch.Tensor:
    """``feat`` ``[B, C, H, W]`` in float32 (when half or bf16) and in the layout RoIAlign reads
    on its device (see the module docstring); ``feat`` itself when already so."""
    on_cpu = feat.device.type == "cpu" and fast_kernels_enabled()
    layout = torch.channels_last if on_cpu else torch.contiguous_format
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
        converted: torch.Tensor = _ChannelsLastNCHWGrad.apply(feat)
        return converted
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


def channels_last_where_faster(
    name: str, layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, measurable: bool
) -> torch.Tensor:
    """``layer(x)`` for a CPU map ``x`` ``[B, C, H, W]`` in NCHW, run on channels_last strides
    (converted in and back with :func:`relayout`) where that measured faster for ``name`` and
    ``x``'s shape class (op ``layout:<name>``, e.g. the ResNet stem: oneDNN's 7×7 stride-2 conv
    and PyTorch's max-pool are several times faster on channels_last), else on NCHW. Same
    values either way. ``measurable``: ``layer`` may be run more than once now (it has no side
    effect, e.g. no BatchNorm in training mode); otherwise a decision not cached yet keeps NCHW."""
    if not (
        fast_kernels_enabled()
        and not traced()
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.is_contiguous()
    ):
        return layer(x)

    def channels_last() -> torch.Tensor:
        return relayout(layer(relayout(x, torch.channels_last)), torch.contiguous_format)

    candidates = {STOCK: lambda: layer(x), "channels_last": channels_last}
    op, shape = f"layout:{name}", map_class(x, str(x.size(1)))
    if not measurable:
        return candidates[tuner.cached_choice(op, shape, candidates) or STOCK]()
    if torch.is_grad_enabled():  # measured without recording graphs, then run once with one
        with torch.no_grad():
            choice = tuner.choose(op, shape, candidates)
        return candidates[choice]()
    return tuner.run(op, shape, candidates)
