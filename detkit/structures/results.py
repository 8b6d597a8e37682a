"""``DetectionResult``: the typed per-image output of a detector, and its MMDetection-v2 form.

A detector's masks are :class:`~detkit.structures.roi_masks.RoIMasks` (pasted on request, so a
result holds ``O(N × m²)`` not ``O(N × H × W)``); masks decoded from an mmdet result are a
dense bool tensor. Both read the same through ``dense_masks`` and ``iter_mask_windows``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from detkit.structures.roi_masks import MaskList, RoIMasks, dense_mask_windows

__all__ = ["DetectionResult"]


@dataclass
class DetectionResult:
    """Detections of one image.

    Attributes:
        boxes: float32 ``[N, 4]`` xyxy in output pixels (original-image pixels when the
            detector ran with ``rescale=True``).
        scores: float32 ``[N]``, sorted descending.
        labels: int64 ``[N]``, class indices ``0..C-1``.
        masks: ``N`` masks on the output canvas ``H × W``: ``RoIMasks`` (a detector's, pasted
            on request) or a bool ``[N, H, W]`` tensor; None for box-only detectors.
            ``masks.shape`` is ``(N, H, W)`` either way.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | RoIMasks | None = None

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        if self.boxes.dim() != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"DetectionResult boxes must be [N, 4], got {tuple(self.boxes.shape)}")
        for name in ("scores", "labels"):
            value = getattr(self, name)
            if value.shape != (n,):
                raise ValueError(f"DetectionResult {name} must be [{n}], got {tuple(value.shape)}")
        if self.masks is not None and (len(self.masks.shape) != 3 or self.masks.shape[0] != n):
            raise ValueError(
                f"DetectionResult masks must be [{n}, H, W], got {tuple(self.masks.shape)}"
            )

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def __getitem__(self, index: Any) -> DetectionResult:
        return DetectionResult(
            self.boxes[index],
            self.scores[index],
            self.labels[index],
            None if self.masks is None else self.masks[index],
        )

    def to(self, device: torch.device | str) -> DetectionResult:
        return DetectionResult(
            self.boxes.to(device),
            self.scores.to(device),
            self.labels.to(device),
            None if self.masks is None else self.masks.to(device),
        )

    def dense_masks(self) -> torch.Tensor | None:
        """The masks as one ``[N, H, W]`` tensor (``N × H × W`` bytes), or None."""
        if isinstance(self.masks, RoIMasks):
            return self.masks.dense()
        return self.masks

    def iter_mask_windows(self) -> Iterator[tuple[int, int, NDArray[Any]]]:
        """Each row's mask, one at a time, as ``(x0, y0, window)``: the bool ``[h, w]`` numpy
        part of the canvas at ``(x0, y0)`` outside which the mask is empty (its box's window
        for ``RoIMasks``, the bounding box of its pixels for a dense tensor)."""
        if self.masks is None:
            return
        if isinstance(self.masks, RoIMasks):
            for x0, y0, values in self.masks.iter_windows():
                yield x0, y0, values.cpu().numpy().astype(bool, copy=False)
            return
        yield from dense_mask_windows(self.masks)

    def to_mmdet(self, num_classes: int) -> Any:
        """MMDetection v2's per-image result: ``bbox_results`` (``num_classes`` float32 arrays
        ``[n_c, 5]`` of ``[x1, y1, x2, y2, score]`` in score order), and with masks the tuple
        ``(bbox_results, segm_results)`` where ``segm_results[c]`` holds ``n_c`` bool
        ``[H, W]`` arrays aligned with the rows: a list for dense masks, a ``MaskList`` (a
        sequence pasting each array when it is read) for ``RoIMasks``."""
        dets = torch.cat([self.boxes.float(), self.scores.float()[:, None]], dim=1)
        dets_np = dets.detach().cpu().numpy().astype(np.float32, copy=False)
        labels_np = self.labels.detach().cpu().numpy()
        bbox_results = [dets_np[labels_np == c] for c in range(num_classes)]
        if self.masks is None:
            return bbox_results
        if isinstance(self.masks, RoIMasks):
            labels = self.labels.detach().to(self.masks.device)
            return bbox_results, [MaskList(self.masks[labels == c]) for c in range(num_classes)]
        masks_np = self.masks.detach().cpu().numpy()
        segm_results = [list(masks_np[labels_np == c]) for c in range(num_classes)]
        return bbox_results, segm_results

    @classmethod
    def from_mmdet(cls, result: Any) -> DetectionResult:
        """The inverse of :meth:`to_mmdet`: rows in class order (class 0's first, each
        class's in its given order), labels from the class index.

        ``result`` is ``bbox_results`` or ``(bbox_results, segm_results)``; ``segm_results``
        may be ``(segms, mask_scores)`` and its masks bool/uint8 ``[H, W]`` arrays or COCO RLE
        dicts (decoded). Masks are None for box-only results and when nothing was detected;
        ``RoIMasks`` (not pasted) when every class's masks are a ``MaskList``.
        """
        bbox_results, segm_results = result if isinstance(result, tuple) else (result, None)
        if isinstance(segm_results, tuple):
            segm_results = segm_results[0]
        rows = [np.asarray(b, np.float32).reshape(-1, 5) for b in bbox_results]
        dets = np.concatenate(rows) if rows else np.zeros((0, 5), np.float32)
        labels = (
            np.concatenate([np.full(len(r), c, np.int64) for c, r in enumerate(rows)])
            if rows
            else np.zeros(0, np.int64)
        )
        masks: torch.Tensor | RoIMasks | None = None
        lazy = bool(segm_results) and all(isinstance(s, MaskList) for s in segm_results)
        flat = (
            [m for per_class in segm_results for m in per_class]
            if segm_results and not lazy
            else []
        )
        if lazy and len(dets):
            masks = RoIMasks.cat([s.masks.to("cpu") for s in segm_results])
        elif flat:
            import pycocotools.mask as mask_util

            masks = torch.from_numpy(
                np.stack(
                    [
                        mask_util.decode(m).astype(bool)
                        if isinstance(m, dict)
                        else np.asarray(m, bool)
                        for m in flat
                    ]
                )
            )
        return cls(
            torch.from_numpy(dets[:, :4].copy()),
            torch.from_numpy(dets[:, 4].copy()),
            torch.from_numpy(labels),
            masks,
        )
