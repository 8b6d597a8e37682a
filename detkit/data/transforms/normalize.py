"""``Normalize(mean, std, to_rgb)`` (MMDetection v2): float32 ``(img - mean) / std`` per channel,
after BGR -> RGB when ``to_rgb`` (then mean/std are given in RGB order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import img_keys
from detkit.registry import PIPELINES

__all__ = ["Normalize", "normalize_image"]


def normalize_image(img: np.ndarray, mean: np.ndarray, std: np.ndarray, to_rgb: bool) -> np.ndarray:
    """``(H, W, 3)`` image -> float32 ``(img[..., ::-1 if to_rgb] - mean) / std`` (a new array)."""
    # swap channels on the uint8 image (a quarter of the bytes of the float copy); the result
    # equals mmcv's swap-after-conversion exactly
    out = (cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if to_rgb else img).astype(np.float32)
    # per-channel float64 scalars as tuples: OpenCV 5 reads a (1, 3) array as a matrix, not as
    # the per-channel scalar OpenCV 4 (and mmcv) took it for (the stubs of cv2.subtract list
    # arrays only, not the scalar tuple)
    mean_scalar = tuple(np.asarray(mean, np.float64).tolist())
    cv2.subtract(out, mean_scalar, out)  # type: ignore[call-overload]
    cv2.multiply(out, tuple((1 / np.asarray(std, np.float64)).tolist()), out)
    return out


@PIPELINES.register_module()
class Normalize:
    """Normalise images; stores ``img_norm_cfg = dict(mean, std, to_rgb)`` (float32 arrays).

    Args:
        mean: per-channel mean (RGB order when ``to_rgb``).
        std: per-channel std.
        to_rgb: convert BGR -> RGB first.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True) -> None:
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        if self.mean.shape != (3,) or self.std.shape != (3,):
            raise ValueError(f"Normalize: mean and std need 3 values, got {mean!r} and {std!r}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {std!r}")
        self.to_rgb = bool(to_rgb)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in img_keys(results):
            results[key] = normalize_image(results[key], self.mean, self.std, self.to_rgb)
        results["img_norm_cfg"] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return (
            f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()}, to_rgb={self.to_rgb})"
        )
