"""Shape classes of the kernel decisions (:mod:`detkit.ops.tuner`), and the crops large inputs
are timed on.

A decision holds for a class of shapes: the spatial size in power-of-two classes, the batch in
power-of-four classes, channels exact, plus dtype and memory layout. Timing is bounded by
:data:`TIMING_PIXELS` pixels per timed call: a larger map (per image) forms one class per
channel pair ("large") and is timed on one image cropped to about that many pixels (per
pixel, the kernels' speeds no longer change much with the map's size there, and timing a whole
stride-4 level of a 2048×1024 image would cost seconds); a batch of small maps is timed on as
many of its images as fit. Matrix products of more than :data:`TIMING_ROWS` rows are timed on
that many.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = [
    "TIMING_PIXELS",
    "TIMING_ROWS",
    "TimingInput",
    "map_class",
    "rows_class",
    "size_class",
    "timing_crop",
]

TIMING_PIXELS = 1 << 12
TIMING_ROWS = 256


def size_class(n: int, base: int = 2) -> int:
    """The power of ``base`` at or above ``n`` (base 2: 3 -> 4, 4 -> 4, 5 -> 8)."""
    power: int = base ** max(0, math.ceil(math.log(max(n, 1), base) - 1e-9))
    return power


def _timed_batch(x: torch.Tensor) -> int:
    """Images of ``x`` ``[B, C, H, W]`` a timing call runs (see the module docstring)."""
    pixels = x.size(-2) * x.size(-1)
    return 1 if pixels > TIMING_PIXELS else min(x.size(0), max(1, TIMING_PIXELS // pixels))


def map_class(x: torch.Tensor, channels: str) -> str:
    """The class of a ``[B, C, H, W]`` map for a layer described by ``channels`` (e.g.
    ``'256>256 p1'``): ``'b16x256>256 p1 px256 nchw float32'``, or ``'256>256 p1 large nchw
    float32'`` for maps of more than :data:`TIMING_PIXELS` pixels (any batch: per image)."""
    pixels = x.size(-2) * x.size(-1)
    layout = "nchw" if x.is_contiguous() else "nhwc"
    dtype = str(x.dtype).removeprefix("torch.")
    if pixels > TIMING_PIXELS:
        return f"{channels} large {layout} {dtype}"
    batch = size_class(_timed_batch(x), 4)
    return f"b{batch}x{channels} px{size_class(pixels)} {layout} {dtype}"


class TimingInput(NamedTuple):
    """What a decision for ``x`` is timed on.

    Attributes:
        tensor: ``x`` itself, its first images, or its first image cropped.
        scale: the whole input's work over the timed input's (times are scaled by it).
        spatial: the map was cropped (its per-image kernels then run image by image).
    """

    tensor: torch.Tensor
    scale: float
    spatial: bool


def timing_crop(x: torch.Tensor) -> TimingInput:
    """The input a decision for ``x`` ``[B, C, H, W]`` is timed on (module docstring), in
    ``x``'s layout."""
    batch, _, height, width = x.shape
    images = _timed_batch(x)
    if height * width <= TIMING_PIXELS:
        return TimingInput(x[:images] if images < batch else x, batch / images, False)
    side = math.sqrt(TIMING_PIXELS / (height * width))
    rows = min(height, max(8, round(height * side)))
    cols = min(width, max(8, TIMING_PIXELS // rows))
    layout = torch.contiguous_format if x.is_contiguous() else torch.channels_last
    crop = x[:1, :, :rows, :cols].contiguous(memory_format=layout)
    return TimingInput(crop, batch * height * width / (rows * cols), True)


def rows_class(rows: int) -> str:
    """The class of a matrix product's row count: ``'rows64'`` or ``'rows>256'``."""
    return f"rows>{TIMING_ROWS}" if rows > TIMING_ROWS else f"rows{size_class(rows)}"
