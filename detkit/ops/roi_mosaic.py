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
13 % seams). ``python bench/kernels.py`` has the figures. Only the layout changes; the
convolutions are the model's own modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["RoIMosaic"]


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
