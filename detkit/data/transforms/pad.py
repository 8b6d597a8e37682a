"""``Pad`` (MMDetection v2): pad images, masks and seg at the bottom and right.

Exactly one of ``size`` (``(h, w)``) and ``size_divisor`` unless ``pad_to_square``. Sets
``pad_shape``, ``pad_fixed_size``, ``pad_size_divisor``; ``img_shape`` is unchanged.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import img_keys, mask_keys, seg_keys
from detkit.registry import PIPELINES

__all__ = ["Pad", "pad_image"]


def pad_image(img: np.ndarray, shape: tuple[int, int], pad_val: float) -> np.ndarray:
    """Pad ``(H, W[, C])`` at the bottom/right to ``shape = (h, w)`` with a constant."""
    h, w = img.shape[:2]
    if shape[0] < h or shape[1] < w:
        raise ValueError(f"pad shape {shape} is smaller than the image {(h, w)}")
    if (h, w) == tuple(shape):
        return img
    channels = 1 if img.ndim == 2 else img.shape[2]
    padded = cv2.copyMakeBorder(
        img,
        0,
        shape[0] - h,
        0,
        shape[1] - w,
        cv2.BORDER_CONSTANT,
        value=[pad_val] * min(channels, 4),
    )
    return padded[:, :, None] if padded.ndim == 2 and img.ndim == 3 else padded


@PIPELINES.register_module()
class Pad:
    """Pad to a fixed ``size`` (h, w), to a multiple of ``size_divisor``, or to a square.

    Args:
        size: ``(h, w)``.
        size_divisor: pad H and W up to multiples of it.
        pad_to_square: pad to ``max(h, w)`` squared.
        pad_val: ``dict(img=0, masks=0, seg=255)``; a bare number (deprecated in mmdet) means
            ``img=masks=number, seg=255``.
    """

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        size_divisor: int | None = None,
        pad_to_square: bool = False,
        pad_val: float | dict[str, float] = dict(img=0, masks=0, seg=255),  # noqa: B006 (read only)
    ) -> None:
        if isinstance(pad_val, (int, float)) and not isinstance(pad_val, bool):
            warnings.warn(
                "Pad: a number pad_val is deprecated, use dict(img=, masks=, seg=)",
                DeprecationWarning,
                stacklevel=2,
            )
            pad_val = dict(img=pad_val, masks=pad_val, seg=255)
        if not isinstance(pad_val, dict):
            raise TypeError(f"Pad: pad_val must be a dict or a number, got {pad_val!r}")
        if pad_to_square:
            if size is not None or size_divisor is not None:
                raise ValueError("Pad: size and size_divisor must be None when pad_to_square=True")
        elif (size is None) == (size_divisor is None):
            raise ValueError(
                f"Pad: give exactly one of size and size_divisor, got {size!r}, {size_divisor!r}"
            )
        self.size = size
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        self.pad_val = dict(pad_val)

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if self.pad_to_square:
            side = max(h, w)
            return side, side
        if self.size is not None:
            return int(self.size[0]), int(self.size[1])
        div = int(self.size_divisor)  # type: ignore[arg-type]
        return int(math.ceil(h / div)) * div, int(math.ceil(w / div)) * div

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        fixed_size = self.size
        for key in img_keys(results):
            h, w = results[key].shape[:2]
            target = self._target(h, w)
            if self.pad_to_square:
                fixed_size = target
            results[key] = pad_image(results[key], target, self.pad_val.get("img", 0))
            results["pad_shape"] = results[key].shape
        results["pad_fixed_size"] = fixed_size
        results["pad_size_divisor"] = self.size_divisor
        pad_hw = tuple(results["pad_shape"][:2])
        for key in mask_keys(results):
            results[key] = results[key].pad(pad_hw, pad_val=self.pad_val.get("masks", 0))
        for key in seg_keys(results):
            results[key] = pad_image(results[key], pad_hw, self.pad_val.get("seg", 255))
        return results

    def __repr__(self) -> str:
        return (
            f"Pad(size={self.size}, size_divisor={self.size_divisor}, "
            f"pad_to_square={self.pad_to_square}, pad_val={self.pad_val})"
        )
