"""``FilterAnnotations`` (MMDetection v2.28): drop instances whose box is too small or whose
mask is too small, from ``gt_bboxes``, ``gt_labels`` and ``gt_masks`` together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.registry import PIPELINES

__all__ = ["FilterAnnotations"]


@PIPELINES.register_module()
class FilterAnnotations:
    """Keep instances with box width > ``min_gt_bbox_wh[0]`` and height > ``min_gt_bbox_wh[1]``
    (``by_box``) and with mask area >= ``min_gt_mask_area`` (``by_mask``); both tests when
    both are on.

    Args:
        min_gt_bbox_wh: minimum ``(w, h)`` in pixels (strict).
        min_gt_mask_area: minimum mask area in pixels.
        by_box: filter by ``gt_bboxes``.
        by_mask: filter by ``gt_masks``.
        keep_empty: return None (the dataset then draws another sample) when every instance
            is filtered out, as mmdet's ``keep_empty=True``; False returns the empty sample.
            An image that had no instances to begin with is returned unchanged.

    Raises:
        ValueError: neither ``by_box`` nor ``by_mask`` (mmdet asserts).
        KeyError: the field to filter by is missing from the results.
    """

    def __init__(
        self,
        min_gt_bbox_wh: Sequence[float] = (1.0, 1.0),
        min_gt_mask_area: int = 1,
        by_box: bool = True,
        by_mask: bool = False,
        keep_empty: bool = True,
    ) -> None:
        if not (by_box or by_mask):
            raise ValueError("FilterAnnotations: set by_box or by_mask (or both)")
        if len(min_gt_bbox_wh) != 2:
            raise ValueError(
                f"FilterAnnotations: min_gt_bbox_wh must be (w, h), got {min_gt_bbox_wh!r}"
            )
        self.min_gt_bbox_wh = tuple(min_gt_bbox_wh)
        self.min_gt_mask_area = min_gt_mask_area
        self.by_box = by_box
        self.by_mask = by_mask
        self.keep_empty = keep_empty

    @staticmethod
    def _require(results: dict[str, Any], key: str, flag: str) -> Any:
        if key not in results:
            raise KeyError(
                f"FilterAnnotations: {flag}=True needs results[{key!r}] "
                f"(present: {sorted(results)}); put it after LoadAnnotations"
            )
        return results[key]

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        tests = []
        if self.by_box:
            boxes = self._require(results, "gt_bboxes", "by_box")
            if boxes.shape[0] == 0:
                return results
            w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            tests.append(np.asarray((w > self.min_gt_bbox_wh[0]) & (h > self.min_gt_bbox_wh[1])))
        if self.by_mask:
            masks = self._require(results, "gt_masks", "by_mask")
            if len(masks) == 0:
                return results
            tests.append(np.asarray(masks.areas) >= self.min_gt_mask_area)
        keep = np.logical_and.reduce(tests)
        for key in ("gt_bboxes", "gt_labels", "gt_masks"):
            if key in results:
                results[key] = results[key][keep]
        if not keep.any() and self.keep_empty:
            return None
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(min_gt_bbox_wh={self.min_gt_bbox_wh}, "
            f"min_gt_mask_area={self.min_gt_mask_area}, by_box={self.by_box}, "
            f"by_mask={self.by_mask}, keep_empty={self.keep_empty})"
        )
