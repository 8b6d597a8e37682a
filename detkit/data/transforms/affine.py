"""``RandomShift`` and ``RandomAffine`` (MMDetection v2.28 semantics and random draws).

Where mmdet v2 moves only the image and boxes (``RandomShift`` leaves masks and seg maps where
they were; ``RandomAffine`` raises on ``gt_masks``), detkit moves bitmap and polygon masks and
seg maps with the image too (seg border filled with 255, the ignore label) and drops the masks
of dropped boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import bbox_keys, img_keys, mask_keys, seg_keys
from detkit.data.transforms.instance_ops import (
    find_inside_boxes,
    image_hw,
    keep_rows,
    translate_masks,
    warp_masks,
)
from detkit.registry import PIPELINES

__all__ = ["RandomShift", "RandomAffine", "shift_image"]

SEG_FILL = 255


def shift_image(img: np.ndarray, dx: int, dy: int, fill: float = 0) -> np.ndarray:
    """``img`` moved by whole pixels ``(dx, dy)`` (same size), uncovered pixels = ``fill``."""
    h, w = img.shape[:2]
    out = np.full_like(img, fill)
    new_h, new_w = h - abs(dy), w - abs(dx)
    if new_h > 0 and new_w > 0:
        out[max(dy, 0) : max(dy, 0) + new_h, max(dx, 0) : max(dx, 0) + new_w] = img[
            max(-dy, 0) : max(-dy, 0) + new_h, max(-dx, 0) : max(-dx, 0) + new_w
        ]
    return out


@PIPELINES.register_module()
class RandomShift:
    """Shift image, boxes, masks and seg maps by up to ``max_shift_px`` with probability
    ``shift_ratio``.

    Args:
        shift_ratio: probability of shifting.
        max_shift_px: the shifts are drawn with ``randint(-max, max)`` (NumPy: ``max`` excluded).
        filter_thr_px: boxes whose width or height is ``<= filter_thr_px`` after the shift and
            clip are dropped; if no ``gt_bboxes`` survive, nothing is shifted (as mmdet).

    Draws: ``np.random.random()`` (shift if ``< shift_ratio``), ``randint`` x, ``randint`` y.
    """

    def __init__(
        self, shift_ratio: float = 0.5, max_shift_px: int = 32, filter_thr_px: int = 1
    ) -> None:
        if not 0 <= shift_ratio <= 1:
            raise ValueError(f"RandomShift: shift_ratio must be in [0, 1], got {shift_ratio!r}")
        if max_shift_px < 0:
            raise ValueError(f"RandomShift: max_shift_px must be >= 0, got {max_shift_px!r}")
        self.shift_ratio = shift_ratio
        self.max_shift_px = max_shift_px
        self.filter_thr_px = int(filter_thr_px)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.random() >= self.shift_ratio:
            return results
        dx = int(np.random.randint(-self.max_shift_px, self.max_shift_px))
        dy = int(np.random.randint(-self.max_shift_px, self.max_shift_px))
        return self.apply(results, dx, dy)

    def apply(self, results: dict[str, Any], dx: int, dy: int) -> dict[str, Any]:
        """Shift by ``(dx, dy)`` pixels (no random draw)."""
        h, w = image_hw(results)
        new: dict[str, np.ndarray] = {}
        valids: dict[str, np.ndarray] = {}
        for key in bbox_keys(results):
            boxes = results[key].copy()
            boxes[..., 0::2] = np.clip(boxes[..., 0::2] + dx, 0, w)
            boxes[..., 1::2] = np.clip(boxes[..., 1::2] + dy, 0, h)
            valid = ((boxes[..., 2] - boxes[..., 0]) > self.filter_thr_px) & (
                (boxes[..., 3] - boxes[..., 1]) > self.filter_thr_px
            )
            if key == "gt_bboxes" and not valid.any():
                return results
            new[key], valids[key] = boxes, valid
        for key, boxes in new.items():
            results[key] = boxes
            keep_rows(results, key, valids[key])
        for key in img_keys(results):
            results[key] = shift_image(results[key], dx, dy)
        for key in mask_keys(results):
            results[key] = translate_masks(results[key], dx, dy, (h, w))
        for key in seg_keys(results):
            results[key] = shift_image(results[key], dx, dy, SEG_FILL)
        return results

    def __repr__(self) -> str:
        return (
            f"RandomShift(shift_ratio={self.shift_ratio}, max_shift_px={self.max_shift_px}, "
            f"filter_thr_px={self.filter_thr_px})"
        )


def _rotation(degrees: float) -> np.ndarray:
    r = math.radians(degrees)
    return np.array(
        [[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0], [0.0, 0.0, 1.0]], np.float32
    )


def _scaling(ratio: float) -> np.ndarray:
    return np.array([[ratio, 0.0, 0.0], [0.0, ratio, 0.0], [0.0, 0.0, 1.0]], np.float32)


def _shear(x_degrees: float, y_degrees: float) -> np.ndarray:
    return np.array(
        [
            [1, np.tan(math.radians(x_degrees)), 0.0],
            [np.tan(math.radians(y_degrees)), 1, 0.0],
            [0.0, 0.0, 1.0],
        ],
        np.float32,
    )


def _translation(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0.0, x], [0.0, 1, y], [0.0, 0.0, 1.0]], np.float32)


@PIPELINES.register_module()
class RandomAffine:
    """YOLOX-style random rotation, scale, shear and translation about pixel (0, 0).

    Args:
        max_rotate_degree: rotation drawn in ``[-max, max]`` degrees.
        max_translate_ratio: translation drawn in ``[-max, max]`` times the output size.
        scaling_ratio_range: scale drawn in the range.
        max_shear_degree: x and y shear drawn in ``[-max, max]`` degrees.
        border: ``(h, w)`` added twice to the output size (negative values shrink it; Mosaic
            uses ``(-h/2, -w/2)``).
        border_val: image border colour.
        min_bbox_size, min_area_ratio, max_aspect_ratio: box filters (when not ``skip_filter``).
        bbox_clip_border: clip the warped boxes to the output.
        skip_filter: skip the three box filters (boxes fully outside are dropped regardless).

    Draws (mmdet order): rotation, scale, x shear, y shear, x translation, y translation, each
    one ``np.random.uniform``. ``M = T @ Sh @ R @ S`` (float32); the image is warped with
    ``cv2.warpPerspective`` (bilinear), boxes are the hull of their warped corners, bitmap masks
    are warped (nearest), polygon vertices mapped, seg maps warped (nearest, border 255).
    """

    def __init__(
        self,
        max_rotate_degree: float = 10.0,
        max_translate_ratio: float = 0.1,
        scaling_ratio_range: Sequence[float] = (0.5, 1.5),
        max_shear_degree: float = 2.0,
        border: Sequence[int] = (0, 0),
        border_val: Sequence[int] = (114, 114, 114),
        min_bbox_size: float = 2,
        min_area_ratio: float = 0.2,
        max_aspect_ratio: float = 20,
        bbox_clip_border: bool = True,
        skip_filter: bool = True,
    ) -> None:
        if not 0 <= max_translate_ratio <= 1:
            raise ValueError(
                f"RandomAffine: max_translate_ratio must be in [0, 1], got {max_translate_ratio!r}"
            )
        if not 0 < scaling_ratio_range[0] <= scaling_ratio_range[1]:
            raise ValueError(
                "RandomAffine: scaling_ratio_range must be 0 < min <= max, got "
                f"{scaling_ratio_range!r}"
            )
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = max_translate_ratio
        self.scaling_ratio_range = tuple(scaling_ratio_range)
        self.max_shear_degree = max_shear_degree
        self.border = tuple(border)
        self.border_val = tuple(border_val)
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        h, w = image_hw(results)
        height, width = h + self.border[0] * 2, w + self.border[1] * 2
        rotation = np.random.uniform(-self.max_rotate_degree, self.max_rotate_degree)
        scale = np.random.uniform(*self.scaling_ratio_range)
        x_shear = np.random.uniform(-self.max_shear_degree, self.max_shear_degree)
        y_shear = np.random.uniform(-self.max_shear_degree, self.max_shear_degree)
        tx = np.random.uniform(-self.max_translate_ratio, self.max_translate_ratio) * width
        ty = np.random.uniform(-self.max_translate_ratio, self.max_translate_ratio) * height
        matrix = (
            _translation(tx, ty) @ _shear(x_shear, y_shear) @ _rotation(rotation) @ _scaling(scale)
        )
        return self.apply(results, matrix, scale, (height, width))

    def filter_gt_bboxes(self, origin: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """mmdet's candidate filter: size, area ratio to ``origin * scale`` and aspect ratio."""
        ow, oh = origin[:, 2] - origin[:, 0], origin[:, 3] - origin[:, 1]
        ww, wh = warped[:, 2] - warped[:, 0], warped[:, 3] - warped[:, 1]
        aspect = np.maximum(ww / (wh + 1e-16), wh / (ww + 1e-16))
        return (
            (ww > self.min_bbox_size)
            & (wh > self.min_bbox_size)
            & (ww * wh / (ow * oh + 1e-16) > self.min_area_ratio)
            & (aspect < self.max_aspect_ratio)
        )

    def apply(
        self, results: dict[str, Any], matrix: np.ndarray, scale: float, out_shape: tuple[int, int]
    ) -> dict[str, Any]:
        """Warp with the 3x3 ``matrix`` into ``out_shape = (h, w)`` (no random draw)."""
        height, width = out_shape
        for key in img_keys(results):
            results[key] = cv2.warpPerspective(
                results[key], matrix, dsize=(width, height), borderValue=self.border_val
            )
            results["img_shape"] = results[key].shape
        for key in bbox_keys(results):
            boxes = results[key]
            n = len(boxes)
            if not n:
                continue
            xs = boxes[:, [0, 0, 2, 2]].reshape(n * 4)
            ys = boxes[:, [1, 3, 3, 1]].reshape(n * 4)
            points = matrix @ np.vstack([xs, ys, np.ones_like(xs)])
            points = points[:2] / points[2]
            xs, ys = points[0].reshape(n, 4), points[1].reshape(n, 4)
            warped = np.vstack((xs.min(1), ys.min(1), xs.max(1), ys.max(1))).T
            if self.bbox_clip_border:
                warped[:, [0, 2]] = warped[:, [0, 2]].clip(0, width)
                warped[:, [1, 3]] = warped[:, [1, 3]].clip(0, height)
            valid = find_inside_boxes(warped, height, width)
            if not self.skip_filter:
                valid &= self.filter_gt_bboxes(boxes * scale, warped)
            results[key] = warped.astype(boxes.dtype)
            keep_rows(results, key, valid)
        for key in mask_keys(results):
            if results.get(key) is not None:
                results[key] = warp_masks(results[key], matrix, (height, width))
        for key in seg_keys(results):
            results[key] = cv2.warpPerspective(
                results[key],
                matrix,
                dsize=(width, height),
                flags=cv2.INTER_NEAREST,
                borderValue=SEG_FILL,
            )
        return results

    def __repr__(self) -> str:
        return (
            f"RandomAffine(max_rotate_degree={self.max_rotate_degree}, "
            f"max_translate_ratio={self.max_translate_ratio}, "
            f"scaling_ratio={self.scaling_ratio_range}, "
            f"max_shear_degree={self.max_shear_degree}, border={self.border}, "
            f"border_val={self.border_val}, min_bbox_size={self.min_bbox_size}, "
            f"min_area_ratio={self.min_area_ratio}, max_aspect_ratio={self.max_aspect_ratio}, "
            f"skip_filter={self.skip_filter})"
        )
