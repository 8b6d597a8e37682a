"""AutoAugment geometric policies ``Rotate``, ``Translate``, ``Shear`` (MMDetection v2 semantics).

Each is called on an MMDetection v2 results dict and returns it: the image(s) of
``img_fields`` (``(H, W, C)`` uint8 BGR, NumPy or a torch tensor on any device), the
``[N, 4]`` float32 xyxy boxes of ``bbox_fields``, the masks of ``mask_fields`` and the maps of
``seg_fields`` move with one affine matrix; boxes that end up empty are dropped together with
their labels and masks; ``img_shape`` is updated. A transform first draws
``np.random.rand()`` and does nothing if it is greater than ``prob``, then draws its sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from detkit.data.transforms.fields import bbox_keys, filter_invalid, img_keys, mask_keys, seg_keys
from detkit.data.transforms.levels import (
    check_level,
    check_prob,
    fill_values,
    level_to_value,
    random_negative,
)
from detkit.registry import PIPELINES
from detkit.structures.affine import AffineParams, apply_matrix_to_points, warp_hwc, warp_tensor

__all__ = ["Rotate", "Translate", "Shear", "warp_image", "warp_boxes"]


def warp_image(
    img: np.ndarray | torch.Tensor,
    params: AffineParams,
    fill: float | Sequence[float],
    interpolation: str = "bilinear",
) -> np.ndarray | torch.Tensor:
    """Warp an ``(H, W)`` / ``(H, W, C)`` image: NumPy via OpenCV, tensors (any device) via
    torchvision. Size and dtype are kept."""
    if isinstance(img, torch.Tensor):
        chw = img[None] if img.ndim == 2 else img.permute(2, 0, 1)
        out = warp_tensor(chw, params, fill, interpolation)
        return out[0] if img.ndim == 2 else out.permute(1, 2, 0)
    return warp_hwc(img, params, fill, interpolation)


def warp_boxes(boxes: np.ndarray, matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """Axis-aligned hull of the 4 mapped corners of each ``[N, 4]`` xyxy box, clipped as mmdet
    does: ``x1 in [0, w]``, ``x2 in [x1, w]`` (same for y). Dtype kept."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    corners = np.stack(
        [
            np.stack([x1, y1], -1),
            np.stack([x2, y1], -1),
            np.stack([x1, y2], -1),
            np.stack([x2, y2], -1),
        ],
        axis=1,
    )  # [N, 4, 2]
    mapped = apply_matrix_to_points(corners, matrix)
    lo, hi = mapped.min(axis=1), mapped.max(axis=1)
    nx1 = np.clip(lo[:, 0], 0, width)
    ny1 = np.clip(lo[:, 1], 0, height)
    nx2 = np.clip(hi[:, 0], nx1, width)
    ny2 = np.clip(hi[:, 1], ny1, height)
    return np.stack([nx1, ny1, nx2, ny2], axis=-1).astype(boxes.dtype)


def _image_hw(results: dict[str, Any]) -> tuple[int, int]:
    keys = img_keys(results)
    if not keys:
        raise KeyError("results has no image: expected 'img' or an 'img_fields' list")
    shape = results[keys[0]].shape
    return int(shape[0]), int(shape[1])


def _warp_images(
    results: dict[str, Any], params: AffineParams, fill: Sequence[float], interpolation: str
) -> None:
    for key in img_keys(results):
        results[key] = warp_image(results[key], params, fill, interpolation)
        results["img_shape"] = tuple(results[key].shape)


def _warp_segs(
    results: dict[str, Any], params: AffineParams, fill: float, interpolation: str
) -> None:
    for key in seg_keys(results):
        results[key] = warp_image(results[key], params, fill, interpolation)


class _GeometricPolicy:
    """Shared argument handling of the three geometric policies."""

    def __init__(
        self,
        level: float,
        prob: float,
        img_fill_val: float | Sequence[float],
        seg_ignore_label: int,
        random_negative_prob: float,
    ) -> None:
        name = type(self).__name__
        self.level = check_level(name, level)
        self.prob = check_prob(name, prob)
        self.img_fill_val = fill_values(name, img_fill_val)
        self.seg_ignore_label = int(seg_ignore_label)
        self.random_negative_prob = check_prob(name, random_negative_prob, "random_negative_prob")


@PIPELINES.register_module()
class Rotate(_GeometricPolicy):
    """Rotate image, boxes, masks and seg by ``level/10 * max_rotate_angle`` degrees
    (clockwise; counter-clockwise with probability ``random_negative_prob``).

    Args:
        level: 0..10.
        scale: isotropic scale of the rotation.
        center: rotation centre (x, y), a number c for (c, c), or None for the image centre
            ``((w-1)/2, (h-1)/2)``.
        img_fill_val: fill of the image border, a number or one value per channel (BGR order
            for a BGR image).
        seg_ignore_label: fill of the seg border.
        prob: probability of applying.
        max_rotate_angle: angle at level 10, degrees.
        random_negative_prob: probability of flipping the angle's sign.
    """

    def __init__(
        self,
        level: float,
        scale: float = 1,
        center: float | tuple[float, float] | None = None,
        img_fill_val: float | Sequence[float] = 128,
        seg_ignore_label: int = 255,
        prob: float = 0.5,
        max_rotate_angle: float = 30,
        random_negative_prob: float = 0.5,
    ) -> None:
        super().__init__(level, prob, img_fill_val, seg_ignore_label, random_negative_prob)
        if isinstance(center, (int, float)):
            center = (float(center), float(center))
        elif center is not None:
            if not (isinstance(center, (tuple, list)) and len(center) == 2):
                raise ValueError(f"Rotate: center must be None, a number or (x, y), got {center!r}")
            center = (float(center[0]), float(center[1]))
        if not isinstance(max_rotate_angle, (int, float)):
            raise TypeError(f"Rotate: max_rotate_angle must be a number, got {max_rotate_angle!r}")
        self.scale = float(scale)
        self.center = center
        self.max_rotate_angle = float(max_rotate_angle)
        self.angle = level_to_value(level, max_rotate_angle)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.rand() > self.prob:
            return results
        angle = random_negative(self.angle, self.random_negative_prob)
        return self.apply(results, angle)

    def apply(self, results: dict[str, Any], angle: float) -> dict[str, Any]:
        """Rotate by the given signed ``angle`` (no random draw)."""
        h, w = _image_hw(results)
        center = self.center if self.center is not None else ((w - 1) * 0.5, (h - 1) * 0.5)
        params = AffineParams(angle=angle, scale=self.scale, center=center)
        _warp_images(results, params, self.img_fill_val, "bilinear")
        matrix = params.matrix(h, w)
        for key in bbox_keys(results):
            results[key] = warp_boxes(results[key], matrix, h, w)
        for key in mask_keys(results):
            results[key] = results[key].rotate((h, w), angle, center, self.scale, fill_val=0)
        _warp_segs(results, params, self.seg_ignore_label, "bilinear")
        return filter_invalid(results)

    def __repr__(self) -> str:
        return (
            f"Rotate(level={self.level}, scale={self.scale}, center={self.center}, "
            f"img_fill_val={self.img_fill_val}, seg_ignore_label={self.seg_ignore_label}, "
            f"prob={self.prob}, max_rotate_angle={self.max_rotate_angle}, "
            f"random_negative_prob={self.random_negative_prob})"
        )


@PIPELINES.register_module()
class Translate(_GeometricPolicy):
    """Shift image, boxes, masks and seg by ``int(level/10 * max_translate_offset)`` pixels
    (right/down; left/up with probability ``random_negative_prob``).

    Boxes: ``x1 = max(0, x1 + off)``, ``x2 = min(w, x2 + off)`` (horizontal; y for vertical);
    boxes with width or height ``<= min_size`` are dropped with their labels and masks.
    """

    def __init__(
        self,
        level: float,
        prob: float = 0.5,
        img_fill_val: float | Sequence[float] = 128,
        seg_ignore_label: int = 255,
        direction: str = "horizontal",
        max_translate_offset: float = 250.0,
        random_negative_prob: float = 0.5,
        min_size: float = 0,
    ) -> None:
        super().__init__(level, prob, img_fill_val, seg_ignore_label, random_negative_prob)
        if direction not in ("horizontal", "vertical"):
            raise ValueError(
                f"Translate: direction must be 'horizontal' or 'vertical', got {direction!r}"
            )
        if not isinstance(max_translate_offset, (int, float)):
            raise TypeError(
                f"Translate: max_translate_offset must be a number, got {max_translate_offset!r}"
            )
        self.direction = direction
        self.max_translate_offset = float(max_translate_offset)
        self.min_size = min_size
        self.offset = int(level_to_value(level, max_translate_offset))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.rand() > self.prob:
            return results
        offset = random_negative(self.offset, self.random_negative_prob)
        return self.apply(results, offset)

    def apply(self, results: dict[str, Any], offset: float) -> dict[str, Any]:
        """Translate by the given signed ``offset`` (no random draw)."""
        h, w = _image_hw(results)
        horizontal = self.direction == "horizontal"
        params = AffineParams(translate=(offset, 0.0) if horizontal else (0.0, offset))
        _warp_images(results, params, self.img_fill_val, "bilinear")
        lo, hi, limit = (0, 2, w) if horizontal else (1, 3, h)
        for key in bbox_keys(results):
            boxes = results[key].copy()
            boxes[:, lo] = np.maximum(0, boxes[:, lo] + offset)
            boxes[:, hi] = np.minimum(limit, boxes[:, hi] + offset)
            results[key] = boxes
        for key in mask_keys(results):
            results[key] = results[key].translate((h, w), offset, self.direction, fill_val=0)
        _warp_segs(results, params, self.seg_ignore_label, "bilinear")
        return filter_invalid(results, self.min_size)

    def __repr__(self) -> str:
        return (
            f"Translate(level={self.level}, prob={self.prob}, img_fill_val={self.img_fill_val}, "
            f"seg_ignore_label={self.seg_ignore_label}, direction={self.direction!r}, "
            f"max_translate_offset={self.max_translate_offset}, "
            f"random_negative_prob={self.random_negative_prob}, min_size={self.min_size})"
        )


@PIPELINES.register_module()
class Shear(_GeometricPolicy):
    """Shear image, boxes, masks and seg by ``m = level/10 * max_shear_magnitude`` about pixel
    (0, 0): ``x += m * y`` (horizontal) or ``y += m * x`` (vertical); sign flipped with
    probability ``random_negative_prob``."""

    def __init__(
        self,
        level: float,
        img_fill_val: float | Sequence[float] = 128,
        seg_ignore_label: int = 255,
        prob: float = 0.5,
        direction: str = "horizontal",
        max_shear_magnitude: float = 0.3,
        random_negative_prob: float = 0.5,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(level, prob, img_fill_val, seg_ignore_label, random_negative_prob)
        if direction not in ("horizontal", "vertical"):
            raise ValueError(
                f"Shear: direction must be 'horizontal' or 'vertical', got {direction!r}"
            )
        if not isinstance(max_shear_magnitude, float) or not 0.0 <= max_shear_magnitude <= 1.0:
            raise ValueError(
                f"Shear: max_shear_magnitude must be a float in [0, 1], got {max_shear_magnitude!r}"
            )
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"Shear: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        self.direction = direction
        self.max_shear_magnitude = max_shear_magnitude
        self.interpolation = interpolation
        self.magnitude = level_to_value(level, max_shear_magnitude)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.rand() > self.prob:
            return results
        magnitude = random_negative(self.magnitude, self.random_negative_prob)
        return self.apply(results, magnitude)

    def apply(self, results: dict[str, Any], magnitude: float) -> dict[str, Any]:
        """Shear by the given signed ``magnitude`` (no random draw)."""
        h, w = _image_hw(results)
        horizontal = self.direction == "horizontal"
        params = AffineParams(shear=(magnitude, 0.0) if horizontal else (0.0, magnitude))
        _warp_images(results, params, self.img_fill_val, self.interpolation)
        matrix = params.matrix(h, w)
        for key in bbox_keys(results):
            results[key] = warp_boxes(results[key], matrix, h, w)
        for key in mask_keys(results):
            results[key] = results[key].shear(
                (h, w), magnitude, self.direction, 0, self.interpolation
            )
        _warp_segs(results, params, self.seg_ignore_label, self.interpolation)
        return filter_invalid(results)

    def __repr__(self) -> str:
        return (
            f"Shear(level={self.level}, img_fill_val={self.img_fill_val}, "
            f"seg_ignore_label={self.seg_ignore_label}, prob={self.prob}, "
            f"direction={self.direction!r}, max_shear_magnitude={self.max_shear_magnitude}, "
            f"random_negative_prob={self.random_negative_prob}, "
            f"interpolation={self.interpolation!r})"
        )
