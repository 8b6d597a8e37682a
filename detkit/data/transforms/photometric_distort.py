"""Random colour transforms of MMDetection v2.28: ``PhotoMetricDistortion``,
``YOLOXHSVRandomAug`` and ``CutOut`` (image-only; boxes, masks and seg maps are untouched).

Random draws come from NumPy's global RNG with mmdet's calls in mmdet's order, so a run seeded
with ``np.random.seed(s)`` distorts exactly as mmdet's would. The arithmetic is mmdet's, laid
out to touch each pixel fewer times (see each class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.instance_ops import image_hw
from detkit.registry import PIPELINES

__all__ = ["PhotoMetricDistortion", "YOLOXHSVRandomAug", "CutOut"]


def _single_image(name: str, results: dict[str, Any]) -> np.ndarray:
    if "img_fields" in results and list(results["img_fields"]) != ["img"]:
        raise ValueError(
            f"{name}: only img_fields == ['img'] is supported, got {results['img_fields']!r}"
        )
    img = results.get("img")
    if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3):
        raise TypeError(
            f"{name}: results['img'] must be an (H, W, 3) NumPy image, got "
            f"{type(img).__name__} {getattr(img, 'shape', '')}"
        )
    return img


@PIPELINES.register_module()
class PhotoMetricDistortion:
    """Brightness, contrast, saturation, hue and channel order, each with probability 1/2.

    Args:
        brightness_delta: ``delta`` drawn in ``[-d, d]``, added.
        contrast_range: ``alpha`` drawn in the range, multiplied (before or after the HSV part).
        saturation_range: factor of the HSV saturation.
        hue_delta: degrees added to the HSV hue (wrapped to [0, 360]).

    Draws, in mmdet's order: ``randint(2)`` [``uniform(-d, d)``]; ``mode = randint(2)``; if
    ``mode == 1``: ``randint(2)`` [``uniform(contrast)``]; ``randint(2)`` [``uniform(saturation)``];
    ``randint(2)`` [``uniform(-hue, hue)``]; if ``mode == 0``: ``randint(2)``
    [``uniform(contrast)``];
    ``randint(2)`` [``permutation(3)``]. The output is float32 (values not clipped), as mmdet's.

    Same numbers as mmdet's code (bit-identical; tests/transforms/test_photometric_distort.py),
    in one float32 image worked in place: saturation and hue shift are one ``cv2.transform``,
    so are the last contrast step and the channel swap (mmdet: strided in-place ops,
    boolean-index copies and a fancy-index copy). The two float32 HSV conversions dominate
    either way (bench/pipeline.py: about as fast as mmdet's).
    """

    def __init__(
        self,
        brightness_delta: float = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: float = 18,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def draw(self) -> dict[str, Any]:
        """The random decisions of one call, in mmdet's order (None = step skipped)."""
        d: dict[str, Any] = dict(
            delta=None,
            contrast_first=None,
            saturation=None,
            hue=None,
            contrast_last=None,
            permutation=None,
        )
        if np.random.randint(2):
            d["delta"] = np.random.uniform(-self.brightness_delta, self.brightness_delta)
        mode = np.random.randint(2)
        if mode == 1 and np.random.randint(2):
            d["contrast_first"] = np.random.uniform(self.contrast_lower, self.contrast_upper)
        if np.random.randint(2):
            d["saturation"] = np.random.uniform(self.saturation_lower, self.saturation_upper)
        if np.random.randint(2):
            d["hue"] = np.random.uniform(-self.hue_delta, self.hue_delta)
        if mode == 0 and np.random.randint(2):
            d["contrast_last"] = np.random.uniform(self.contrast_lower, self.contrast_upper)
        if np.random.randint(2):
            d["permutation"] = np.random.permutation(3)
        return d

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = _single_image("PhotoMetricDistortion", results)
        results["img"] = self.apply(img, self.draw())
        return results

    @staticmethod
    def apply(img: np.ndarray, d: dict[str, Any]) -> np.ndarray:
        """Distort ``img`` (uint8 or float, ``(H, W, 3)`` BGR) with the decisions ``d`` of
        :meth:`draw`; returns a new float32 image."""
        out = img.astype(np.float32)
        if d["delta"] is not None:
            out += d["delta"]
        if d["contrast_first"] is not None:
            out *= d["contrast_first"]
        # always round-trip through HSV, as mmdet: it is not the identity for values that
        # brightness/contrast pushed outside [0, 255]
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV, dst=out)  # in place: no fresh pages to fault in
        if d["saturation"] is not None or d["hue"] is not None:
            # one cv2.transform pass: h + hue, s * saturation, v (float32 coefficients, so each
            # value is the correctly rounded float32 result, as numpy's in-place ops give)
            gain = np.float32(1 if d["saturation"] is None else d["saturation"])
            shift = np.float32(0 if d["hue"] is None else d["hue"])
            cv2.transform(
                hsv,
                np.array([[1, 0, 0, shift], [0, gain, 0, 0], [0, 0, 1, 0]], np.float32),
                dst=hsv,
            )
            if d["hue"] is not None:
                hue = hsv[..., 0]
                if shift > 0:
                    np.subtract(hue, 360, out=hue, where=hue > 360)
                else:
                    np.add(hue, 360, out=hue, where=hue < 0)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=hsv)
        if d["contrast_last"] is not None or d["permutation"] is not None:
            # contrast and channel order in one pass: row i of the matrix picks channel perm[i]
            alpha = np.float32(1 if d["contrast_last"] is None else d["contrast_last"])
            perm = np.arange(3) if d["permutation"] is None else d["permutation"]
            matrix = np.zeros((3, 3), np.float32)
            matrix[np.arange(3), perm] = alpha
            cv2.transform(out, matrix, dst=out)
        return out

    def __repr__(self) -> str:
        return (
            f"PhotoMetricDistortion(brightness_delta={self.brightness_delta}, "
            f"contrast_range={(self.contrast_lower, self.contrast_upper)}, "
            f"saturation_range={(self.saturation_lower, self.saturation_upper)}, "
            f"hue_delta={self.hue_delta})"
        )


@PIPELINES.register_module()
class YOLOXHSVRandomAug:
    """YOLOX's HSV jitter on a uint8 BGR image (OpenCV HSV: hue in [0, 180)).

    Draws ``uniform(-1, 1, 3) * (hue, saturation, value deltas)`` then ``randint(0, 2, 3)``
    (which of the three apply); gains are truncated to int16. Hue wraps modulo 180, saturation
    and value are clipped to [0, 255]. Applied as one 3-channel look-up table (the same
    integers as mmdet's int16 arithmetic).
    """

    def __init__(
        self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30
    ) -> None:
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results.get("img")
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3):
            raise TypeError(
                "YOLOXHSVRandomAug: results['img'] must be an (H, W, 3) uint8 image, got "
                f"{type(img).__name__} {getattr(img, 'dtype', '')} {getattr(img, 'shape', '')}"
            )
        gains = np.random.uniform(-1, 1, 3) * [
            self.hue_delta,
            self.saturation_delta,
            self.value_delta,
        ]
        gains *= np.random.randint(0, 2, 3)
        gains = gains.astype(np.int16)
        values = np.arange(256, dtype=np.int16)
        lut = np.stack(
            [
                (values + gains[0]) % 180,
                np.clip(values + gains[1], 0, 255),
                np.clip(values + gains[2], 0, 255),
            ],
            axis=-1,
        ).astype(np.uint8)[:, None, :]
        hsv = cv2.LUT(cv2.cvtColor(img, cv2.COLOR_BGR2HSV), lut)
        results["img"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return (
            f"YOLOXHSVRandomAug(hue_delta={self.hue_delta}, "
            f"saturation_delta={self.saturation_delta}, "
            f"value_delta={self.value_delta})"
        )


@PIPELINES.register_module()
class CutOut:
    """Fill random rectangles of the image with ``fill_in`` (Cutout, DeVries & Taylor 2017).

    Args:
        n_holes: number of holes, or ``(min, max)`` drawn with ``randint(min, max + 1)``.
        cutout_shape: ``(w, h)`` pixels, or a list to draw from.
        cutout_ratio: ``(w, h)`` fractions of the image, or a list to draw from (exactly one of
            ``cutout_shape`` and ``cutout_ratio``).
        fill_in: pixel value of the holes.

    Per hole: ``randint(0, w)``, ``randint(0, h)`` (top-left), ``randint(0, len(candidates))``.
    """

    def __init__(
        self,
        n_holes: int | tuple[int, int],
        cutout_shape: Any = None,
        cutout_ratio: Any = None,
        fill_in: Sequence[float] = (0, 0, 0),
    ) -> None:
        if (cutout_shape is None) == (cutout_ratio is None):
            raise ValueError("CutOut: give exactly one of cutout_shape and cutout_ratio")
        candidates = cutout_ratio if cutout_ratio is not None else cutout_shape
        if not isinstance(candidates, (list, tuple)):
            raise TypeError(
                "CutOut: cutout_shape/cutout_ratio must be a tuple or a list of tuples, got "
                f"{candidates!r}"
            )
        if isinstance(n_holes, tuple):
            if len(n_holes) != 2 or not 0 <= n_holes[0] < n_holes[1]:
                raise ValueError(
                    f"CutOut: n_holes range must be (min, max) with 0 <= min < max, got {n_holes!r}"
                )
        else:
            n_holes = (n_holes, n_holes)
        self.n_holes = n_holes
        self.fill_in = fill_in
        self.with_ratio = cutout_ratio is not None
        self.candidates = candidates if isinstance(candidates, list) else [candidates]

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        h, w = image_hw(results)
        img = results["img"]
        n_holes = np.random.randint(self.n_holes[0], self.n_holes[1] + 1)
        for _ in range(n_holes):
            x1 = np.random.randint(0, w)
            y1 = np.random.randint(0, h)
            index = np.random.randint(0, len(self.candidates))
            if self.with_ratio:
                cut_w, cut_h = (
                    int(self.candidates[index][0] * w),
                    int(self.candidates[index][1] * h),
                )
            else:
                cut_w, cut_h = self.candidates[index]
            img[y1 : int(np.clip(y1 + cut_h, 0, h)), x1 : int(np.clip(x1 + cut_w, 0, w)), :] = (
                self.fill_in
            )
        return results

    def __repr__(self) -> str:
        kind = "cutout_ratio" if self.with_ratio else "cutout_shape"
        return f"CutOut(n_holes={self.n_holes}, {kind}={self.candidates}, fill_in={self.fill_in})"
