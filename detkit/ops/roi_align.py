"""RoIAlign with ``torchvision.ops`` semantics and float32 box coordinates; on CPU computed as
two small GEMMs per RoI.

RoIAlign is linear in the map, and each RoI's samples form a Cartesian grid (rows × columns)
whose bilinear weights factor into a row part and a column part. Averaging them over each
bin's samples gives two small matrices per RoI, ``A_y`` ``[out_h, crop_h]`` and ``A_x``
``[out_w, crop_w]`` over the rows and columns the RoI touches, and

    out[r, c] = A_y · map[b_r, c, crop_r] · A_xᵀ
    grad_map[b_r, c, crop_r] += A_yᵀ · grad[r, c] · A_x

with torchvision's sampling exactly: adaptive (``sampling_ratio=0``: ``ceil(size / bins)``
samples per bin) or fixed sampling, the ``aligned`` half-pixel offset, samples beyond
``[-1, size]`` dropped and the rest clamped onto the border. On channels-last data the crop is
read in place as an ``[h, w·C]`` matrix: one GEMM pools its rows, then a batched GEMM its
columns, vectorised over channels (torchvision's CPU kernels instead loop over channels and
samples with scalar code on one thread, and its backward scatters four bilinear taps per
sample and channel; ``python bench/kernels.py`` compares them). Values agree with
torchvision's to float32 rounding (~5e-7).

On other devices, and with ``detkit.ops.fast_kernels(False)``, torchvision's kernels are used
as they are (on NCHW maps: :func:`detkit.ops.roi_pooling_layout` then keeps that layout).
The GEMMs are not timed against torchvision per shape: they measured faster, forward and
backward, on every CPU and RoI count tried (``python bench/kernels.py --match roi_align``;
figures in ``docs/performance.md``), and the two read the map in different memory layouts,
converted once per pyramid. ``RoIAlign`` is the module:
a ``torchvision.ops.RoIAlign`` whose CPU forward is this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torchvision.ops

from detkit.ops.switch import fast_kernels_enabled

__all__ = ["RoIAlign", "roi_align"]


def _axis_weights(
    start: torch.Tensor, extent: torch.Tensor, bins: int, size: int, sampling_ratio: int
) -> tuple[torch.Tensor, list[int], list[int]]:
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
    pos = (start[:, None, None] + bin_index * bin_size[:, None, None]) + (
        (sample.to(start.dtype) + 0.5) * bin_size[:, None, None]
    ) / per_bin
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


class _Sampling(NamedTuple):
    """Where K RoIs sample one map: per-RoI weights over their crops (see ``_axis_weights``)."""

    weights_y: torch.Tensor  # [K, out_h, L_y]
    weights_x: torch.Tensor  # [K, out_w, L_x]
    crops: list[tuple[int, int, int, int, int]]  # (image, row, rows, column, columns) per RoI


def _sampling(
    rois: torch.Tensor,
    map_shape: Sequence[int],
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> _Sampling:
    """The crops and weights of ``rois`` ``[K, 5]`` (input pixels) on a ``[B, C, H, W]`` map."""
    height, width = map_shape[2:]
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    weights_y, row, rows = _axis_weights(y1, roi_h, output_size[0], height, sampling_ratio)
    weights_x, col, cols = _axis_weights(x1, roi_w, output_size[1], width, sampling_ratio)
    images = rois[:, 0].long().tolist()
    return _Sampling(weights_y, weights_x, list(zip(images, row, rows, col, cols)))


def _pool(nhwc: torch.Tensor, sampling: _Sampling) -> torch.Tensor:
    """``[K, out_h, out_w, C]`` pooled from ``nhwc`` ``[B, H, W, C]``."""
    num, out_h = sampling.weights_y.shape[:2]
    out_w = sampling.weights_x.size(1)
    channels = nhwc.size(3)
    out = nhwc.new_empty(num, out_h, out_w, channels)
    for k, (b, y0, h, x0, w) in enumerate(sampling.crops):
        if h == 0 or w == 0:
            out[k] = 0
            continue
        # [out_h, w, C]: the crop's rows pooled first (one GEMM over the whole crop; faster
        # than pooling its columns first)
        crop = nhwc[b, y0 : y0 + h, x0 : x0 + w].reshape(h, w * channels)
        rows = torch.mm(sampling.weights_y[k, :, :h], crop).view(out_h, w, channels)
        torch.bmm(sampling.weights_x[k, :, :w].expand(out_h, out_w, w), rows, out=out[k])
    return out


def _unpool(grad: torch.Tensor, sampling: _Sampling, map_shape: Sequence[int]) -> torch.Tensor:
    """The map's gradient ``[B, H, W, C]`` from ``grad`` ``[K, out_h, out_w, C]``."""
    batch, channels, height, width = map_shape
    out_h, out_w = grad.shape[1:3]
    grad_rows = sampling.weights_y.transpose(1, 2)  # [K, L_y, out_h]
    grad_cols = sampling.weights_x.transpose(1, 2)  # [K, L_x, out_w]
    grad_map = grad.new_zeros(batch, height, width, channels)
    for k, (b, y0, h, x0, w) in enumerate(sampling.crops):
        if h == 0 or w == 0:
            continue
        # [out_h, w, C]: each pooled row spread over the crop's columns
        spread = torch.bmm(grad_cols[k, :w].expand(out_h, w, out_w), grad[k])
        crop = grad_map[b, y0 : y0 + h, x0 : x0 + w].view(h, w * channels)
        crop.addmm_(grad_rows[k, :h], spread.view(out_h, w * channels))
    return grad_map


@torch.library.custom_op("detkit::roi_align", mutates_args=(), device_types="cpu")
def _roi_align_cpu(
    feat: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float,
    out_h: int,
    out_w: int,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """RoIAlign of ``feat`` ``[B, C, H, W]`` → ``[K, C, out_h, out_w]`` as two GEMMs per RoI,
    with channels-last strides (as pooled: a caller that scatters the rows into a buffer
    converts the layout in the same pass, instead of a separate copy).

    One registered op, like torchvision's: profilers and ``FlopCounterMode`` see a pooling op
    (no FLOPs counted, as for torchvision's kernel), not its GEMMs."""
    sampling = _sampling(rois, feat.shape, (out_h, out_w), spatial_scale, sampling_ratio, aligned)
    with torch.autocast("cpu", enabled=False):  # mm/bmm stay in the map's float32
        out = _pool(feat.permute(0, 2, 3, 1).contiguous(), sampling)
    return out.permute(0, 3, 1, 2)


@torch.library.custom_op("detkit::roi_align_backward", mutates_args=(), device_types="cpu")
def _roi_align_backward_cpu(
    grad: torch.Tensor,
    rois: torch.Tensor,
    map_shape: list[int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """The map's gradient ``[B, C, H, W]`` (channels-last strides) from ``grad``
    ``[K, C, out_h, out_w]``. The sampling is recomputed from the RoIs (a registered op
    carries tensors only; recomputing costs little next to the products)."""
    out_size = (grad.size(2), grad.size(3))
    sampling = _sampling(rois, map_shape, out_size, spatial_scale, sampling_ratio, aligned)
    with torch.autocast("cpu", enabled=False):
        grad_map = _unpool(grad.permute(0, 2, 3, 1).contiguous(), sampling, map_shape)
    return grad_map.permute(0, 3, 1, 2)


@_roi_align_cpu.register_fake
def _(
    feat: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float,
    out_h: int,
    out_w: int,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    return feat.new_empty(rois.size(0), out_h, out_w, feat.size(1)).permute(0, 3, 1, 2)


@_roi_align_backward_cpu.register_fake
def _(
    grad: torch.Tensor,
    rois: torch.Tensor,
    map_shape: list[int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    return torch.empty(
        map_shape, dtype=grad.dtype, device=grad.device, memory_format=torch.channels_last
    )


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    feat, rois, spatial_scale, _, _, sampling_ratio, aligned = inputs
    ctx.save_for_backward(rois)
    ctx.args = (list(feat.shape), spatial_scale, sampling_ratio, aligned)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    (rois,) = ctx.saved_tensors
    return (_roi_align_backward_cpu(grad, rois, *ctx.args),) + (None,) * 6


_roi_align_cpu.register_autograd(_backward, setup_context=_setup_context)


def roi_align(layer: Any, feat: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """``layer(feat, rois)`` for a ``torchvision.ops.RoIAlign`` layer.

    Args:
        layer: the RoIAlign (``output_size``, ``spatial_scale`` = 1 / stride,
            ``sampling_ratio``, ``aligned``).
        feat: ``[B, C, H, W]`` map of one level (channels_last is read without a copy on CPU).
        rois: ``[K, 5]`` ``[batch_idx, x1, y1, x2, y2]`` in input pixels.

    Returns:
        ``[K, C, out_h, out_w]`` in ``feat``'s dtype (channels-last strides on CPU with fast
        kernels on). A
        low-precision map is pooled in float32: casting the RoIs to its dtype would round
        them (bf16 keeps 8 bits: 1003.7 -> 1004).
    """
    dtype = feat.dtype
    if feat.dtype != rois.dtype:
        feat, rois = feat.float(), rois.float()
    if feat.device.type != "cpu" or not fast_kernels_enabled():
        pooled: torch.Tensor = torchvision.ops.RoIAlign.forward(layer, feat, rois)
        return pooled.to(dtype)
    size = layer.output_size
    out_h, out_w = (size, size) if isinstance(size, int) else size
    out: torch.Tensor = _roi_align_cpu(
        feat, rois, float(layer.spatial_scale), out_h, out_w, layer.sampling_ratio, layer.aligned
    )
    return out.to(dtype)


class RoIAlign(torchvision.ops.RoIAlign):  # type: ignore[misc]
    """``torchvision.ops.RoIAlign`` (same arguments) whose CPU forward is :func:`roi_align`'s
    GEMMs: ``forward(feat [B, C, H, W], rois [K, 5]) -> [K, C, out_h, out_w]``."""

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:  # noqa: A002
        return roi_align(self, input, rois)
