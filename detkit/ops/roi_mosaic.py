"""A batch of small RoI maps tiled into one large map, so that a stack of 3×3 convolutions
(a mask head's) runs as NNPACK's single-image Winograd convolution instead of its batched one.

``K`` maps ``[K, C, h, w]`` are laid out row-major on a ``rows × cols`` grid, one zero row and
one zero column (a *seam*) between neighbours, no border: the mosaic is ``[1, C, H, W]`` with
``H = rows·(h+1) − 1``, ``W = cols·(w+1) − 1``. A 3×3 stride-1 convolution with zero padding 1
on the mosaic reads, for every pixel of a map, exactly that map's pixels and zeros where the
map's own padding would be (a seam serves as the padding of the maps on both sides of it), so
each map's output equals the per-map convolution; only the seams of the output hold values
from two neighbours, and :meth:`RoIMosaic.clear_seams` zeroes them before the next
convolution. The grid's unused cells stay zero.

Why: NNPACK's batched algorithm covers a 14×14 map with 6×6 output tiles (18×18, 65 % more
work than the map), the single-image one tiles the whole mosaic (149×149 for 100 maps:
13 % seams). Whether that pays on a CPU is measured (:func:`roi_conv_stack`; ``python
bench/kernels.py --match roi_mosaic`` compares). Only the layout changes; the convolutions are
the model's own modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from detkit.ops import tuner
from detkit.ops.conv import conv2d, conv3x3_applies
from detkit.ops.shape_class import size_class
from detkit.ops.switch import traced

__all__ = ["RoIMosaic", "roi_conv_stack"]


@dataclass(frozen=True)
class RoIMosaic:
    """The grid of ``count`` maps of ``height × width`` pixels (``rows × cols`` cells)."""

    count: int
    height: int
    width: int
    rows: int
    cols: int

    @classmethod
    def plan(cls, count: int, height: int, width: int) -> RoIMosaic:
        """A near-square grid for ``count`` maps (``cols = ceil(sqrt(count))``)."""
        cols = max(1, math.ceil(math.sqrt(count)))
        return cls(count, height, width, max(1, math.ceil(count / cols)), cols)

    @property
    def shape(self) -> tuple[int, int]:
        """The mosaic's ``(H, W)``."""
        return (self.rows * (self.height + 1) - 1, self.cols * (self.width + 1) - 1)

    def _cells(self, mosaic: torch.Tensor) -> torch.Tensor:
        """``[C, rows, h, cols, w]`` strided view of the cells of a contiguous ``mosaic``
        ``[1, C, H, W]``."""
        channels = mosaic.size(1)
        height, width = self.shape
        strides = (height * width, (self.height + 1) * width, width, self.width + 1, 1)
        return mosaic.as_strided(
            (channels, self.rows, self.height, self.cols, self.width),
            strides,
            mosaic.storage_offset(),
        )

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[K, C, h, w]`` → contiguous mosaic ``[1, C, H, W]`` (zeros between)."""
        channels = x.size(1)
        cells = self.rows * self.cols
        mosaic = x.new_zeros(1, channels, *self.shape)
        if cells > self.count:
            x = torch.cat([x, x.new_zeros(cells - self.count, *x.shape[1:])])
        self._cells(mosaic).copy_(
            x.reshape(self.rows, self.cols, channels, self.height, self.width).permute(
                2, 0, 3, 1, 4
            )
        )
        return mosaic

    def clear_seams(self, mosaic: torch.Tensor) -> torch.Tensor:
        """``mosaic`` ``[1, C, H, W]`` with its seam rows and columns zeroed: in place when no
        gradient is recorded, else out of place (the seams' gradient is then zero)."""
        rows = slice(self.height, None, self.height + 1)
        cols = slice(self.width, None, self.width + 1)
        if not (torch.is_grad_enabled() and mosaic.requires_grad):
            mosaic[:, :, rows, :] = 0
            mosaic[:, :, :, cols] = 0
            return mosaic
        keep = mosaic.new_ones(1, 1, *mosaic.shape[2:])
        keep[:, :, rows, :] = 0
        keep[:, :, :, cols] = 0
        return mosaic * keep

    def unpack(self, mosaic: torch.Tensor) -> torch.Tensor:
        """Mosaic ``[1, C, H, W]`` → contiguous maps ``[K, C, h, w]``."""
        maps = self._cells(mosaic.contiguous()).permute(1, 3, 0, 2, 4)
        return maps.reshape(self.rows * self.cols, mosaic.size(1), self.height, self.width)[
            : self.count
        ].contiguous()


def roi_conv_stack(
    layers: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    convs: Sequence[nn.Conv2d] | None,
) -> torch.Tensor:
    """``layers`` applied in turn to RoI maps ``x`` ``[K, C, h, w]`` → ``[K, C', h, w]``, on
    one mosaic of the maps where that measured faster than per RoI (op ``roi_mosaic``; shape
    class: K's power-of-two class, channels, map size and the number of layers; timed on the
    first convolution, pack included).

    ``convs``: each layer's convolution, when every layer is that convolution followed by
    pixel-wise ops only (a norm layer mixes pixels across maps: pass None). The mosaic needs
    3×3 stride-1 convolutions with padding 1 that detkit's kernels may run
    (:func:`detkit.ops.conv.conv3x3_applies`) and at least two maps."""

    def per_roi(t: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            t = layer(t)
        return t

    if (  # traced first: an exported RoI count takes no guard
        traced()
        or convs is None
        or len(convs) != len(layers)
        or not convs
        or x.dim() != 4
        or x.size(0) < 2
        or not all(conv.padding == (1, 1) and conv3x3_applies(conv, x) for conv in convs)
    ):
        return per_roi(x)
    mosaic = RoIMosaic.plan(x.size(0), x.size(2), x.size(3))
    shape = f"{size_class(x.size(0))}x{x.size(1)} {x.size(2)}x{x.size(3)} {len(convs)} convs"
    with torch.no_grad():
        choice = tuner.choose(
            "roi_mosaic",
            shape,
            {
                "per_roi": lambda: conv2d(convs[0], x),
                "mosaic": lambda: conv2d(convs[0], mosaic.pack(x)),
            },
            warmup=True,
        )
    if choice != "mosaic":
        return per_roi(x)
    t = mosaic.pack(x)
    for i, layer in enumerate(layers):
        t = layer(t)
        if i < len(layers) - 1:
            t = mosaic.clear_seams(t)
    return mosaic.unpack(t)
