"""``RandomCrop`` and ``MinIoURandomCrop`` (MMDetection v2.28 semantics and random draws).

Both crop the image(s), boxes (shifted into the crop, clipped when ``bbox_clip_border``),
bitmap and polygon masks (``masks.crop``), ``gt_bboxes_ignore`` (with ``gt_labels_ignore`` /
``gt_masks_ignore``) and the seg maps with one window, and set ``img_shape`` to the crop's
shape. Randomness comes from NumPy's global RNG in mmdet's calls and order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.data.transforms.fields import (
    BBOX2LABEL,
    BBOX2MASK,
    bbox_keys,
    img_keys,
    mask_keys,
    seg_keys,
)
from detkit.data.transforms.instance_ops import crop_masks, image_hw
from detkit.registry import PIPELINES

__all__ = ["RandomCrop", "MinIoURandomCrop", "box_iou"]

_CROP_TYPES = ("relative_range", "relative", "absolute", "absolute_range")


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``[N, M]`` IoU of xyxy boxes (mmdet's NumPy ``bbox_overlaps``: no +1, union >= eps)."""
    b1 = boxes1.astype(np.float32)
    b2 = boxes2.astype(np.float32)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    w = np.maximum(
        np.minimum(b1[:, None, 2], b2[None, :, 2]) - np.maximum(b1[:, None, 0], b2[None, :, 0]), 0
    )
    h = np.maximum(
        np.minimum(b1[:, None, 3], b2[None, :, 3]) - np.maximum(b1[:, None, 1], b2[None, :, 1]), 0
    )
    overlap = w * h
    union = np.maximum(area1[:, None] + area2[None, :] - overlap, eps)
    return overlap / union


def _crop_arrays(results: dict[str, Any], x1: int, y1: int, x2: int, y2: int) -> None:
    for key in img_keys(results):
        results[key] = results[key][y1:y2, x1:x2, ...]
        results["img_shape"] = results[key].shape
    for key in seg_keys(results):
        results[key] = results[key][y1:y2, x1:x2]


@PIPELINES.register_module()
class RandomCrop:
    """Crop a random window of a size drawn by ``crop_type``.

    Args:
        crop_size: ``(h, w)``: pixels (ints) for ``'absolute'``/``'absolute_range'``, ratios in
            (0, 1] for ``'relative'``/``'relative_range'``.
        crop_type: ``'absolute'`` (``min(crop, image)``), ``'absolute_range'`` (h and w drawn
            in ``[crop_size[0], min(side, crop_size[1])]``), ``'relative'`` (``side * ratio``),
            ``'relative_range'`` (ratio drawn in ``[crop_size, 1]``).
        allow_negative_crop: keep a crop holding no ``gt_bboxes`` (else return None, and the
            dataset draws another image, as mmdet).
        recompute_bbox: replace boxes by the tight boxes of the cropped masks (clipped to the
            crop when ``bbox_clip_border``; mmdet leaves polygon-derived boxes unclipped).
        bbox_clip_border: clip boxes to the crop.

    Draws: ``np.random.rand(2)`` (relative_range) or two ``np.random.randint`` (absolute_range)
    for the size, then ``np.random.randint(0, margin_h + 1)``, ``randint(0, margin_w + 1)``.
    A box is kept when ``x2 > x1`` and ``y2 > y1`` after the shift (and clip).
    """

    def __init__(
        self,
        crop_size: Sequence[float],
        crop_type: str = "absolute",
        allow_negative_crop: bool = False,
        recompute_bbox: bool = False,
        bbox_clip_border: bool = True,
    ) -> None:
        if crop_type not in _CROP_TYPES:
            raise ValueError(
                f"RandomCrop: invalid crop_type {crop_type!r}, expected one of {_CROP_TYPES}"
            )
        if len(crop_size) != 2:
            raise ValueError(f"RandomCrop: crop_size must be (h, w), got {crop_size!r}")
        if crop_type in ("absolute", "absolute_range"):
            if not all(isinstance(v, (int, np.integer)) and v > 0 for v in crop_size):
                raise ValueError(
                    f"RandomCrop: crop_size must be positive ints for {crop_type!r}, "
                    f"got {crop_size!r}"
                )
            if crop_type == "absolute_range" and crop_size[0] > crop_size[1]:
                raise ValueError(
                    "RandomCrop: absolute_range needs crop_size[0] <= crop_size[1], "
                    f"got {crop_size!r}"
                )
        elif not all(0 < v <= 1 for v in crop_size):
            raise ValueError(
                f"RandomCrop: crop_size must be ratios in (0, 1] for {crop_type!r}, "
                f"got {crop_size!r}"
            )
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _get_crop_size(self, h: int, w: int) -> tuple[int, int]:
        c0, c1 = self.crop_size
        if self.crop_type == "absolute":
            return min(int(c0), h), min(int(c1), w)
        if self.crop_type == "absolute_range":
            crop_h = np.random.randint(min(h, int(c0)), min(h, int(c1)) + 1)
            crop_w = np.random.randint(min(w, int(c0)), min(w, int(c1)) + 1)
            return int(crop_h), int(crop_w)
        if self.crop_type == "relative":
            return int(h * c0 + 0.5), int(w * c1 + 0.5)
        ratio = np.asarray(self.crop_size, dtype=np.float32)
        crop_h, crop_w = ratio + np.random.rand(2) * (1 - ratio)
        return int(h * crop_h + 0.5), int(w * crop_w + 0.5)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        h, w = image_hw(results)
        crop_h, crop_w = self._get_crop_size(h, w)
        if crop_h <= 0 or crop_w <= 0:
            raise ValueError(
                f"RandomCrop: crop size {(crop_h, crop_w)} of a {(h, w)} image is empty"
            )
        off_h = int(np.random.randint(0, max(h - crop_h, 0) + 1))
        off_w = int(np.random.randint(0, max(w - crop_w, 0) + 1))
        return self.apply(results, off_w, off_h, crop_w, crop_h)

    def apply(
        self, results: dict[str, Any], x1: int, y1: int, crop_w: int, crop_h: int
    ) -> dict[str, Any] | None:
        """Crop the window ``[x1, x1 + crop_w) x [y1, y1 + crop_h)`` (no random draw)."""
        x2, y2 = x1 + crop_w, y1 + crop_h
        _crop_arrays(results, x1, y1, x2, y2)
        out_h, out_w = results["img_shape"][:2]
        offset = np.array([x1, y1, x1, y1], dtype=np.float32)
        for key in bbox_keys(results):
            boxes = results[key] - offset
            if self.bbox_clip_border:
                boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, out_w)
                boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, out_h)
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if key == "gt_bboxes" and not valid.any() and not self.allow_negative_crop:
                return None
            rows = np.flatnonzero(valid)
            results[key] = boxes[rows]
            label_key, mask_key = BBOX2LABEL.get(key), BBOX2MASK.get(key)
            if label_key in results:
                results[label_key] = results[label_key][rows]
            if mask_key in results and results[mask_key] is not None:
                results[mask_key] = crop_masks(results[mask_key], (x1, y1, x2, y2), rows)
                if self.recompute_bbox:
                    boxes = results[mask_key].get_bboxes().astype(np.float32)
                    if self.bbox_clip_border:  # polygon vertices outside the crop are not clipped
                        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, out_w)
                        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, out_h)
                    results[key] = boxes
        return results

    def __repr__(self) -> str:
        return (
            f"RandomCrop(crop_size={self.crop_size}, crop_type={self.crop_type!r}, "
            f"allow_negative_crop={self.allow_negative_crop}, "
            f"recompute_bbox={self.recompute_bbox}, "
            f"bbox_clip_border={self.bbox_clip_border})"
        )


@PIPELINES.register_module()
class MinIoURandomCrop:
    """SSD-style crop whose IoU with every box is at least a drawn threshold.

    Args:
        min_ious: thresholds to draw from (with 1 = no crop and 0 = any crop added, as mmdet).
        min_crop_size: the crop's sides are at least this fraction of the image's.
        bbox_clip_border: clip boxes to the crop.

    Draws: ``np.random.choice((1, *min_ious, 0))``; then up to 50 tries of ``uniform(min*w, w)``,
    ``uniform(min*h, h)`` (rejected when ``h/w`` is outside [0.5, 2]), ``uniform(w - new_w)``,
    ``uniform(h - new_h)``; after 50 failures a new threshold is drawn. Boxes whose centre is
    strictly inside the crop are kept (with their labels and masks). Every image field is
    cropped alike (mmdet allows only ``img``). ``mode`` holds the last threshold drawn.
    """

    def __init__(
        self,
        min_ious: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size: float = 0.3,
        bbox_clip_border: bool = True,
    ) -> None:
        if not 0 < min_crop_size <= 1:
            raise ValueError(
                f"MinIoURandomCrop: min_crop_size must be in (0, 1], got {min_crop_size!r}"
            )
        self.min_ious = tuple(min_ious)
        self.sample_mode = (1, *self.min_ious, 0)
        self.min_crop_size = min_crop_size
        self.bbox_clip_border = bbox_clip_border

    @staticmethod
    def _center_inside(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
        center = (boxes[:, :2] + boxes[:, 2:]) / 2
        return (
            (center[:, 0] > patch[0])
            & (center[:, 1] > patch[1])
            & (center[:, 0] < patch[2])
            & (center[:, 1] < patch[3])
        )

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        h, w = image_hw(results)
        keys = bbox_keys(results)
        boxes = (
            np.concatenate([results[k] for k in keys], 0) if keys else np.zeros((0, 4), np.float32)
        )
        while True:
            mode = np.random.choice(self.sample_mode)
            self.mode = mode  # the last drawn threshold (mmdet's attribute; 1 = no crop)
            if mode == 1:
                return results
            for _ in range(50):
                new_w = np.random.uniform(self.min_crop_size * w, w)
                new_h = np.random.uniform(self.min_crop_size * h, h)
                if new_h / new_w < 0.5 or new_h / new_w > 2:
                    continue
                left = np.random.uniform(w - new_w)
                top = np.random.uniform(h - new_h)
                patch = np.array((int(left), int(top), int(left + new_w), int(top + new_h)))
                if patch[2] == patch[0] or patch[3] == patch[1]:
                    continue
                overlaps = box_iou(patch.reshape(-1, 4), boxes.reshape(-1, 4)).reshape(-1)
                if len(overlaps) > 0 and overlaps.min() < mode:
                    continue
                if len(overlaps) > 0 and not self._center_inside(boxes, patch).any():
                    continue
                return self.apply(results, patch, adjust_boxes=len(overlaps) > 0)

    def apply(
        self, results: dict[str, Any], patch: np.ndarray, adjust_boxes: bool = True
    ) -> dict[str, Any]:
        """Crop to the integer xyxy ``patch`` (no random draw)."""
        if adjust_boxes:
            for key in bbox_keys(results):
                rows = np.flatnonzero(self._center_inside(results[key], patch))
                boxes = results[key][rows]
                if self.bbox_clip_border:
                    boxes[:, 2:] = boxes[:, 2:].clip(max=patch[2:])
                    boxes[:, :2] = boxes[:, :2].clip(min=patch[:2])
                results[key] = boxes - np.tile(patch[:2], 2).astype(boxes.dtype)
                label_key, mask_key = BBOX2LABEL.get(key), BBOX2MASK.get(key)
                if label_key in results:
                    results[label_key] = results[label_key][rows]
                if mask_key in results and results[mask_key] is not None:
                    results[mask_key] = crop_masks(results[mask_key], patch, rows)
        else:  # no boxes at all: mmdet leaves the (empty) masks at the old size; crop them
            for key in mask_keys(results):
                if results.get(key) is not None:
                    results[key] = crop_masks(results[key], patch)
        _crop_arrays(results, int(patch[0]), int(patch[1]), int(patch[2]), int(patch[3]))
        return results

    def __repr__(self) -> str:
        return (
            f"MinIoURandomCrop(min_ious={self.min_ious}, min_crop_size={self.min_crop_size}, "
            f"bbox_clip_border={self.bbox_clip_border})"
        )
