"""The RoIAlign call of every RoI extractor: ``torchvision.ops`` RoIAlign with float32 box
coordinates and, on CPU, a faster forward and backward.

Forward: torchvision's CPU RoIAlign kernel runs on a single thread. Each channel is pooled
independently, so the map's channels are split into one slice per intra-op thread, pooled
concurrently (the op releases the GIL) and concatenated: the same values as one call, in about
``1 / threads`` of the wall time.

Backward: RoIAlign is linear in the map, and each RoI's samples form a Cartesian grid (rows ×
columns) whose bilinear weights factor into a row part and a column part. Averaging them over
each bin's samples gives two small matrices per RoI, ``A_y`` ``[out_h, crop_h]`` and ``A_x``
``[out_w, crop_w]`` over the rows and columns the RoI touches, with
``out[c] = A_y · map[c, crop] · A_xᵀ`` (torchvision's sampling exactly: adaptive or fixed
sampling ratio, ``aligned`` offset, samples beyond ``[-1, size]`` dropped, border clamping).
The map's gradient from RoI ``r`` is then ``A_yᵀ · grad[r] · A_x`` added into its crop: two
GEMMs per RoI on channels-last data instead of torchvision's scalar scatter of four bilinear
taps per sample and channel. For the 500 level-0 RoIs of a Mask R-CNN training step this took
0.10 s against 0.52 s (2 threads). MMDetection's adaptive sampling (``sampling_ratio=0``)
makes RoIAlign a large share of a CPU training step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn as nn

__all__ = ["roi_align"]

# pooled elements (K * C * out_h * out_w) below which threads cost more than they save
_MIN_SPLIT_ELEMENTS = 1 << 18
_executors: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _executor(workers: int) -> ThreadPoolExecutor:
    """A pool per (process, size); a forked child gets its own rather than its parent's."""
    key = (os.getpid(), workers)
    if key not in _executors:
        _executors[key] = ThreadPoolExecutor(workers, thread_name_prefix="detkit-roi-align")
    return _executors[key]


def _map_channel_slices(fn: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor,
                        slices: int) -> torch.Tensor:
    """``cat([fn(s) for s in tensor.tensor_split(slices, 1)], 1)`` with the calls on threads."""
    if slices == 1:
        return fn(tensor.contiguous())
    inference = torch.is_inference_mode_enabled()

    def run(part: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(inference), torch.no_grad():
            return fn(part.contiguous())

    return torch.cat(list(_executor(slices).map(run, tensor.tensor_split(slices, 1))), 1)


def _axis_weights(start: torch.Tensor, extent: torch.Tensor, bins: int, size: int,
                  sampling_ratio: int) -> tuple[torch.Tensor, list[int], list[int]]:
    """Bin-averaged bilinear weights of K RoIs along one axis, as torchvision samples them.

    Args:
        start: ``[K]`` RoI start on this axis, in map pixels (offset applied).
        extent: ``[K]`` RoI length on this axis, in map pixels.
        bins: pooled bins on this axis.
        size: the map's length on this axis.
        sampling_ratio: samples per bin (0: ``ceil(extent / bins)``).

    Returns:
        ``weights`` ``[K, bins, L]``: the weight of map row (or column) ``origin + i`` in bin
        ``b``, already divided by the samples per bin; ``origin`` and ``length`` (``L`` =
        max length; 0 where no sample falls on the map), per RoI.
    """
    num = start.size(0)
    bin_size = extent / bins
    if sampling_ratio > 0:
        grid = torch.full((num,), sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(extent / bins).long().clamp(min=0)
    max_grid = int(grid.max()) if num else 0
    if max_grid == 0:
        return start.new_zeros(num, bins, 0), [0] * num, [0] * num
    per_bin = grid.to(start.dtype).clamp(min=1)[:, None, None]
    bin_index = torch.arange(bins, dtype=start.dtype)[None, :, None]
    sample = torch.arange(max_grid)
    # torchvision: start + b * bin_size + (i + .5) * bin_size / grid, in the map's float type
    pos = ((start[:, None, None] + bin_index * bin_size[:, None, None])
           + ((sample.to(start.dtype) + 0.5) * bin_size[:, None, None]) / per_bin)
    valid = (sample < grid[:, None, None]) & (pos >= -1) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    frac = pos - low
    # past the last row, both taps land on it: its weight is 1 whatever the split
    high = (low + 1).clamp(max=size - 1)
    low = low.clamp(max=size - 1)
    scale = valid.to(start.dtype) / per_bin
    origin = torch.where(valid, low, size).flatten(1).amin(1)
    length = (torch.where(valid, high, -1).flatten(1).amax(1) - origin + 1).clamp(min=0)
    origin = torch.where(length > 0, origin, 0)
    width = max(int(length.max()), 1)
    weights = start.new_zeros(num, bins, width)
    for index, weight in ((low, 1 - frac), (high, frac)):
        local = (index - origin[:, None, None]).clamp(0, width - 1)
        weights.scatter_add_(2, local.flatten(2), (weight * scale).flatten(2))
    return weights, origin.tolist(), length.tolist()


def _separable_backward(grad: torch.Tensor, rois: torch.Tensor, map_shape: Sequence[int],
                        spatial_scale: float, sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """The map's gradient ``[B, C, H, W]`` (channels-last strides) of RoIAlign, from
    ``grad`` ``[K, C, out_h, out_w]`` and ``rois`` ``[K, 5]`` (see the module docstring)."""
    batch, channels, height, width = map_shape
    out_h, out_w = grad.shape[2:]
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    weights_y, origin_y, length_y = _axis_weights(y1, roi_h, out_h, height, sampling_ratio)
    weights_x, origin_x, length_x = _axis_weights(x1, roi_w, out_w, width, sampling_ratio)
    grad_rows = weights_y.transpose(1, 2)  # [K, L_y, out_h]
    grad_cols = weights_x.transpose(1, 2)  # [K, L_x, out_w]
    grad = grad.permute(0, 2, 3, 1).contiguous()  # [K, out_h, out_w, C]
    grad_map = grad.new_zeros(batch, height, width, channels)
    crops = zip(rois[:, 0].long().tolist(), origin_y, length_y, origin_x, length_x)
    for k, (b, y0, h, x0, w) in enumerate(crops):
        if h == 0 or w == 0:
            continue
        # [out_h, w, C]: each pooled row spread over the crop's columns
        spread = torch.bmm(grad_cols[k, :w].expand(out_h, w, out_w), grad[k])
        crop = grad_map[b, y0:y0 + h, x0:x0 + w].view(h, w * channels)
        crop.addmm_(grad_rows[k, :h], spread.view(out_h, w * channels))
    return grad_map.permute(0, 3, 1, 2)


class _CPURoIAlign(torch.autograd.Function):
    """torchvision's RoIAlign forward on channel slices pooled by ``slices`` threads; the
    separable GEMM backward."""

    @staticmethod
    def forward(ctx: Any, feat: torch.Tensor, rois: torch.Tensor, spatial_scale: float,
                output_size: tuple[int, int], sampling_ratio: int, aligned: bool,
                slices: int) -> torch.Tensor:
        ctx.save_for_backward(rois)
        ctx.args = (feat.shape, spatial_scale, sampling_ratio, aligned)

        def pool(part: torch.Tensor) -> torch.Tensor:
            return torch.ops.torchvision.roi_align(part, rois, spatial_scale, *output_size,
                                                   sampling_ratio, aligned)

        return _map_channel_slices(pool, feat, slices)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (rois,) = ctx.saved_tensors
        return (_separable_backward(grad, rois, *ctx.args),) + (None,) * 6


def _thread_slices(feat: torch.Tensor, num_rois: int, output_size: Sequence[int]) -> int:
    """How many channel slices to pool concurrently (1: a single call)."""
    if feat.dtype != torch.float32:
        return 1
    work = num_rois * feat.size(1) * output_size[0] * output_size[1]
    return min(torch.get_num_threads(), feat.size(1)) if work >= _MIN_SPLIT_ELEMENTS else 1


def roi_align(layer: nn.Module, feat: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """``layer(feat, rois)`` for a ``torchvision.ops.RoIAlign`` layer.

    Args:
        layer: the RoIAlign (``output_size``, ``spatial_scale`` = 1 / stride,
            ``sampling_ratio``, ``aligned``).
        feat: ``[B, C, H, W]`` map of one level.
        rois: ``[K, 5]`` ``[batch_idx, x1, y1, x2, y2]`` in input pixels.

    Returns:
        ``[K, C, out_h, out_w]`` in ``feat``'s dtype. A low-precision map is pooled in float32:
        casting the RoIs to its dtype would round them (bf16 keeps 8 bits: 1003.7 -> 1004).
    """
    dtype = feat.dtype
    if feat.dtype != rois.dtype:
        feat, rois = feat.float(), rois.float()
    if feat.device.type != "cpu":
        return layer(feat, rois).to(dtype)
    size = layer.output_size
    output_size = (size, size) if isinstance(size, int) else tuple(size)
    slices = _thread_slices(feat, rois.size(0), output_size)
    out = _CPURoIAlign.apply(feat, rois, float(layer.spatial_scale), output_size,
                             layer.sampling_ratio, layer.aligned, slices)
    return out.to(dtype)
