"""AutoAugment photometric policies (MMDetection v2 / mmcv semantics); they change only the
images of ``img_fields`` (``(H, W, 3)`` uint8 BGR NumPy arrays).

- ``ColorTransform``: ``img * f + gray * (1 - f)`` (saturating, rounded like ``cv2.addWeighted``).
- ``BrightnessTransform``: ``img * f`` clipped to [0, 255] and truncated (mmcv casts float32).
- ``ContrastTransform``: ``img * f + mean_gray * (1 - f)`` clipped and truncated.
- ``EqualizeTransform``: per-channel histogram equalisation (PIL-style LUT).

with ``f = level/10 * 1.8 + 0.1`` (1.0 at level 5).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import img_keys
from detkit.data.transforms.levels import check_level, check_prob, enhance_level_to_value
from detkit.registry import PIPELINES

__all__ = [
    "ColorTransform",
    "BrightnessTransform",
    "ContrastTransform",
    "EqualizeTransform",
    "bgr_to_gray",
    "adjust_color",
    "adjust_brightness",
    "adjust_contrast",
    "equalize",
]


def bgr_to_gray(img: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR -> ``(H, W)`` uint8 gray (``cv2.COLOR_BGR2GRAY``, as mmcv)."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def adjust_color(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the gray image: ``img * f + gray * (1 - f)`` (``cv2.addWeighted``, uint8
    saturating, as mmcv's ``adjust_color``)."""
    gray = np.repeat(bgr_to_gray(img)[..., None], 3, axis=2)
    return cv2.addWeighted(img, factor, gray, 1 - factor, 0)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """``img * f`` in float32, clipped to [0, 255], truncated to uint8."""
    out = img.astype(np.float32) * np.float32(factor)
    return np.clip(out, 0, 255).astype(img.dtype)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the rounded mean gray level: ``img * f + mean * (1 - f)``, float32, clipped
    and truncated."""
    gray = bgr_to_gray(img)
    mean = round(float(gray.sum()) / gray.size)
    out = img.astype(np.float32) * np.float32(factor) + np.float32(mean * (1 - factor))
    return np.clip(out, 0, 255).astype(img.dtype)


def _equalize_channel(channel: np.ndarray) -> np.ndarray:
    histo = np.bincount(channel.reshape(-1), minlength=256)
    nonzero = histo[histo > 0]
    step = (int(nonzero.sum()) - int(nonzero[-1])) // 255
    if not step:
        return channel
    lut = (np.cumsum(histo) + step // 2) // step
    lut = np.minimum(np.concatenate([[0], lut[:-1]]), 255)
    return lut.astype(np.uint8)[channel]


def equalize(img: np.ndarray) -> np.ndarray:
    """Histogram-equalise each channel of an ``(H, W, C)`` uint8 image (mmcv ``imequalize``)."""
    return np.stack([_equalize_channel(img[:, :, c]) for c in range(img.shape[2])], axis=-1)


class _PhotometricPolicy(ABC):
    def __init__(self, level: float, prob: float) -> None:
        name = type(self).__name__
        self.level = check_level(name, level)
        self.prob = check_prob(name, prob)
        self.factor = enhance_level_to_value(level)

    @abstractmethod
    def _adjust(self, img: np.ndarray) -> np.ndarray:
        """The adjusted copy of one ``(H, W, 3)`` uint8 image."""

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.rand() > self.prob:
            return results
        for key in img_keys(results):
            img = results[key]
            if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3):
                raise TypeError(
                    f"{type(self).__name__}: results[{key!r}] must be an (H, W, 3) uint8 array, "
                    f"got {type(img).__name__} {getattr(img, 'dtype', '')} "
                    f"{getattr(img, 'shape', '')}"
                )
            results[key] = self._adjust(img)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(level={self.level}, prob={self.prob})"


@PIPELINES.register_module()
class ColorTransform(_PhotometricPolicy):
    """Colour balance (saturation) by factor ``level/10 * 1.8 + 0.1``."""

    def __init__(self, level: float, prob: float = 0.5) -> None:
        super().__init__(level, prob)

    def _adjust(self, img: np.ndarray) -> np.ndarray:
        return adjust_color(img, self.factor)


@PIPELINES.register_module()
class BrightnessTransform(_PhotometricPolicy):
    """Brightness by factor ``level/10 * 1.8 + 0.1``."""

    def __init__(self, level: float, prob: float = 0.5) -> None:
        super().__init__(level, prob)

    def _adjust(self, img: np.ndarray) -> np.ndarray:
        return adjust_brightness(img, self.factor)


@PIPELINES.register_module()
class ContrastTransform(_PhotometricPolicy):
    """Contrast by factor ``level/10 * 1.8 + 0.1``."""

    def __init__(self, level: float, prob: float = 0.5) -> None:
        super().__init__(level, prob)

    def _adjust(self, img: np.ndarray) -> np.ndarray:
        return adjust_contrast(img, self.factor)


@PIPELINES.register_module()
class EqualizeTransform(_PhotometricPolicy):
    """Per-channel histogram equalisation."""

    def __init__(self, prob: float = 0.5) -> None:
        super().__init__(0, prob)

    def _adjust(self, img: np.ndarray) -> np.ndarray:
        return equalize(img)

    def __repr__(self) -> str:
        return f"EqualizeTransform(prob={self.prob})"
