"""The RoIAlign call of every RoI extractor: ``torchvision.ops`` RoIAlign with float32 box
coordinates and, on CPU, the channels split across threads.

torchvision's CPU RoIAlign kernels (forward and backward) run on a single thread. Each channel
is pooled independently, so the map's channels are split into one slice per intra-op thread,
pooled concurrently (the op releases the GIL) and concatenated: the same values as one call,
in about ``1 / threads`` of the wall time. MMDetection's adaptive sampling
(``sampling_ratio=0``) makes this pooling a large share of a CPU forward and backward pass.
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
    inference = torch.is_inference_mode_enabled()

    def run(part: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(inference), torch.no_grad():
            return fn(part.contiguous())

    return torch.cat(list(_executor(slices).map(run, tensor.tensor_split(slices, 1))), 1)


class _ChannelSplitRoIAlign(torch.autograd.Function):
    """RoIAlign whose forward and backward each pool channel slices on ``slices`` threads."""

    @staticmethod
    def forward(ctx: Any, feat: torch.Tensor, rois: torch.Tensor, spatial_scale: float,
                output_size: tuple[int, int], sampling_ratio: int, aligned: bool,
                slices: int) -> torch.Tensor:
        ctx.save_for_backward(rois)
        ctx.args = (spatial_scale, output_size, sampling_ratio, aligned, slices, feat.shape)

        def pool(part: torch.Tensor) -> torch.Tensor:
            return torch.ops.torchvision.roi_align(part, rois, spatial_scale, *output_size,
                                                   sampling_ratio, aligned)

        return _map_channel_slices(pool, feat, slices)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (rois,) = ctx.saved_tensors
        spatial_scale, (out_h, out_w), sampling_ratio, aligned, slices, shape = ctx.args
        batch, _, height, width = shape

        def unpool(part: torch.Tensor) -> torch.Tensor:
            return torch.ops.torchvision._roi_align_backward(
                part, rois, spatial_scale, out_h, out_w, batch, part.size(1), height, width,
                sampling_ratio, aligned)

        return (_map_channel_slices(unpool, grad, slices),) + (None,) * 6


def _thread_slices(feat: torch.Tensor, num_rois: int, output_size: Sequence[int]) -> int:
    """How many channel slices to pool concurrently (1: a single call)."""
    if feat.device.type != "cpu" or feat.dtype != torch.float32:
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
    size = layer.output_size
    output_size = (size, size) if isinstance(size, int) else tuple(size)
    slices = _thread_slices(feat, rois.size(0), output_size)
    if slices == 1:
        return layer(feat, rois).to(dtype)
    out = _ChannelSplitRoIAlign.apply(feat, rois, float(layer.spatial_scale), output_size,
                                      layer.sampling_ratio, layer.aligned, slices)
    return out.to(dtype)
