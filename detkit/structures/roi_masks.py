"""``RoIMasks``: a detector's instance masks kept as RoI mask probabilities and their boxes,
pasted into the image only on request (detectron2's lazy paste).

A result for a huge image then holds ``N × m × m`` probabilities instead of ``N × H × W``
pixels. Each mask is pasted exactly as :func:`~detkit.structures.mask_paste.paste_masks_in_image`
pastes it (MMDetection v2's ``_do_paste_mask``): ``dense()`` is that call, and ``window(i)`` /
``full(i)`` give one mask's values without an image-sized canvas per instance.

``MaskList`` is the MMDetection-v2 view of one class's masks: a sequence of full-size bool
``[H, W]`` arrays, each pasted when it is read, so ``to_mmdet`` results and the RLE encoding
of COCO evaluation hold one full-size mask at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from detkit.structures.mask_paste import mask_windows, paste_mask_window, paste_masks_in_image

__all__ = ["MaskList", "RoIMasks", "dense_mask_windows"]


def dense_mask_windows(masks: Iterable[Any]) -> Iterator[tuple[int, int, NDArray[Any]]]:
    """``(x0, y0, window)`` of each ``[H, W]`` mask (array or tensor) of ``masks``: the bool
    part inside the bounding box of its pixels (``[0, 0]`` for an empty mask)."""
    for mask in masks:
        mask = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        mask = mask.astype(bool, copy=False)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if len(rows) == 0:
            yield 0, 0, mask[:0, :0]
            continue
        yield int(cols[0]), int(rows[0]), mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


class RoIMasks:
    """``N`` masks on an ``H × W`` canvas as probabilities ``[N, 1, m, m]`` and boxes.

    Args:
        probs: float ``[N, 1, m, m]`` mask probabilities (sigmoid-ed), one per box.
        boxes: float ``[N, 4]`` xyxy in canvas pixels (where each mask is pasted).
        height, width: the canvas (output image) size.
        threshold: ``mask_thr_binary``: ``>= threshold`` gives bool masks; a negative value
            gives uint8 0–255 soft masks.
        skip_empty: mmdet's CPU paste (each mask only inside its box's window ± 1 pixel).
    """

    def __init__(
        self,
        probs: torch.Tensor,
        boxes: torch.Tensor,
        height: int,
        width: int,
        threshold: float,
        skip_empty: bool,
    ) -> None:
        if probs.dim() != 4 or probs.shape[1] != 1 or boxes.shape != (probs.shape[0], 4):
            raise ValueError(
                f"RoIMasks needs probs [N, 1, m, m] and boxes [N, 4], got "
                f"{tuple(probs.shape)} and {tuple(boxes.shape)}"
            )
        self.probs, self.boxes = probs, boxes.float()
        self.height, self.width = int(height), int(width)
        self.threshold, self.skip_empty = float(threshold), bool(skip_empty)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, W)``, the shape of :meth:`dense`."""
        return (self.probs.shape[0], self.height, self.width)

    @property
    def dtype(self) -> torch.dtype:
        return torch.bool if self.threshold >= 0 else torch.uint8

    @property
    def device(self) -> torch.device:
        return self.probs.device

    def __len__(self) -> int:
        return self.probs.shape[0]

    def __getitem__(self, index: Any) -> RoIMasks:
        """The masks at ``index`` (a slice, a bool/int64 tensor or a list); an int keeps one."""
        if isinstance(index, (int, np.integer)) or (
            isinstance(index, torch.Tensor) and index.dim() == 0
        ):
            index = [int(index)]
        return RoIMasks(
            self.probs[index],
            self.boxes[index],
            self.height,
            self.width,
            self.threshold,
            self.skip_empty,
        )

    def to(self, device: torch.device | str) -> RoIMasks:
        return RoIMasks(
            self.probs.to(device),
            self.boxes.to(device),
            self.height,
            self.width,
            self.threshold,
            self.skip_empty,
        )

    @classmethod
    def cat(cls, parts: Sequence[RoIMasks]) -> RoIMasks:
        """The rows of ``parts`` (same canvas and paste settings) in order."""
        first = parts[0]
        for part in parts[1:]:
            if (part.height, part.width, part.threshold, part.skip_empty) != (
                first.height,
                first.width,
                first.threshold,
                first.skip_empty,
            ):
                raise ValueError("RoIMasks.cat: the parts differ in canvas size or paste settings")
        return cls(
            torch.cat([p.probs for p in parts]),
            torch.cat([p.boxes for p in parts]),
            first.height,
            first.width,
            first.threshold,
            first.skip_empty,
        )

    def windows(self) -> torch.Tensor:
        """int64 ``[N, 4]`` ``(x0, y0, x1, y1)`` canvas windows outside which mask i is zero."""
        return mask_windows(
            self.boxes, self.height, self.width, self.probs.shape[-1], self.skip_empty
        )

    def window(self, i: int) -> tuple[int, int, torch.Tensor]:
        """Mask ``i`` inside its window: ``(x0, y0, values [y1 - y0, x1 - x0])``."""
        win = self.windows()[i]
        return (
            int(win[0]),
            int(win[1]),
            paste_mask_window(self.probs[i], self.boxes[i], win, self.threshold),
        )

    def iter_windows(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        """:meth:`window` of each mask in order, one at a time."""
        wins = self.windows()
        for i in range(len(self)):
            yield (
                int(wins[i, 0]),
                int(wins[i, 1]),
                paste_mask_window(self.probs[i], self.boxes[i], wins[i], self.threshold),
            )

    def full(self, i: int) -> torch.Tensor:
        """Mask ``i`` on the whole canvas, ``[H, W]`` (``dense()[i]``)."""
        x0, y0, values = self.window(i)
        canvas = torch.zeros(self.height, self.width, dtype=self.dtype, device=self.device)
        canvas[y0 : y0 + values.shape[0], x0 : x0 + values.shape[1]] = values
        return canvas

    def dense(self) -> torch.Tensor:
        """All masks pasted, ``[N, H, W]`` bool (uint8 for soft masks): ``N × H × W`` bytes."""
        return paste_masks_in_image(
            self.probs, self.boxes, self.height, self.width, self.threshold, self.skip_empty
        )

    def __repr__(self) -> str:
        return (
            f"RoIMasks(num={len(self)}, canvas={self.height}x{self.width}, "
            f"mask_size={self.probs.shape[-1]}, threshold={self.threshold})"
        )


class MaskList(Sequence[NDArray[Any]]):
    """One class's masks as MMDetection v2 lists them (``segm_results[c]``): full-size
    ``[H, W]`` numpy arrays (bool, uint8 for soft masks), each pasted when read (on the
    device of ``masks``, as the eager paste, then copied to the CPU)."""

    def __init__(self, masks: RoIMasks) -> None:
        self.masks = masks

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return MaskList(self.masks[index])
        if not -len(self) <= index < len(self):
            raise IndexError(f"mask index {index} out of range for {len(self)} masks")
        return self.masks.full(int(index) % len(self)).cpu().numpy()

    def __iter__(self) -> Iterator[NDArray[Any]]:
        for i in range(len(self)):
            yield self.masks.full(i).cpu().numpy()

    def __repr__(self) -> str:
        return f"MaskList({len(self)} masks [{self.masks.height}, {self.masks.width}])"
