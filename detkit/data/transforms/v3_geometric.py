"""MMDetection 3.x geometric augmentations: ``Rotate``, ``TranslateX``/``TranslateY``,
``ShearX``/``ShearY`` with v3's own semantics (mmdet 3.3 ``datasets/transforms/geometric.py``).

How v3 differs from v2's ``Rotate``/``Translate``/``Shear`` (:mod:`.geometric`):

* magnitude: ``round(level / 10 * (max_mag - min_mag) + min_mag, 1)``, or, with
  ``level=None``, ``round(U(0, 1) * (max_mag - min_mag) + min_mag, 1)`` (one more draw);
  translations are a fraction of the image width/height (``int(w * mag)`` pixels), shears are
  angles in degrees (``tan(mag)``);
* sign: negated when a second draw is **greater** than ``reversal_prob`` (v2: when it is
  smaller than ``random_negative_prob``);
* boxes: the hull of the moved corners, clipped to the image, and **kept** even when empty
  (v2 drops them with their labels and masks);
* defaults: ``prob=1.0``, masks warped with ``interpolation``, seg maps nearest.

Draw order as v3: ``rand() > prob`` disables; then the magnitude (if ``level`` is None), then
the sign. v2's ``Rotate`` owns that name in ``PIPELINES``; v3's is registered as
``'mmdet3.Rotate'`` (a v3 config's ``Rotate`` is translated to it), the others under their v3
names and ``'mmdet3.<name>'``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.data.transforms.fields import bbox_keys, img_keys, mask_keys, seg_keys
from detkit.data.transforms.geometric import warp_boxes, warp_image
from detkit.data.transforms.levels import MAX_LEVEL, check_prob, fill_values
from detkit.registry import PIPELINES
from detkit.structures.affine import AffineParams

__all__ = ["GeomTransformV3", "RotateV3", "TranslateXV3", "TranslateYV3", "ShearXV3", "ShearYV3"]

_INTERPOLATIONS = ("bilinear", "nearest")


def level_to_mag(level: int | None, min_mag: float, max_mag: float) -> float:
    """v3's magnitude of ``level`` (0..10), rounded to one decimal; None draws it uniformly."""
    fraction = np.random.rand() if level is None else level / MAX_LEVEL
    return round(float(fraction) * (max_mag - min_mag) + min_mag, 1)


class GeomTransformV3:
    """Shared arguments and call sequence of v3's geometric transforms.

    Args:
        prob: probability of applying.
        level: 0..10, or None for a random magnitude.
        min_mag, max_mag: magnitude at level 0 and 10 (units per subclass).
        reversal_prob: the sign is negated when a uniform draw exceeds it.
        img_border_value: image fill, a number or 3 values (image channel order).
        mask_border_value: mask fill.
        seg_ignore_label: seg map fill.
        interpolation: ``'bilinear'`` or ``'nearest'`` (image and masks).
    """

    mag_range = (0.0, 1.0)

    def __init__(
        self,
        prob: float = 1.0,
        level: int | None = None,
        min_mag: float = 0.0,
        max_mag: float | None = None,
        reversal_prob: float = 0.5,
        img_border_value: float | Sequence[float] = 128,
        mask_border_value: int = 0,
        seg_ignore_label: int = 255,
        interpolation: str = "bilinear",
    ) -> None:
        name = type(self).__name__
        self.prob = check_prob(name, prob)
        if level is not None and (isinstance(level, bool) or not 0 <= level <= MAX_LEVEL):
            raise ValueError(f"{name}: level must be None or in [0, {MAX_LEVEL}], got {level!r}")
        lo, hi = self.mag_range
        self.min_mag = float(min_mag)
        self.max_mag = float(self.default_max_mag if max_mag is None else max_mag)
        if not lo <= self.min_mag <= self.max_mag <= hi:
            raise ValueError(
                f"{name}: need {lo} <= min_mag <= max_mag <= {hi}, got {min_mag}, {max_mag}"
            )
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"{name}: interpolation must be one of {_INTERPOLATIONS}")
        self.level = level
        self.reversal_prob = check_prob(name, reversal_prob, "reversal_prob")
        self.img_border_value = fill_values(name, img_border_value)
        self.mask_border_value = mask_border_value
        self.seg_ignore_label = seg_ignore_label
        self.interpolation = interpolation

    default_max_mag = 1.0

    def magnitude(self) -> float:
        """Draw the signed magnitude (v3's ``_get_mag``)."""
        mag = level_to_mag(self.level, self.min_mag, self.max_mag)
        return -mag if np.random.rand() > self.reversal_prob else mag

    def params(self, mag: float, height: int, width: int) -> AffineParams:
        """The warp for signed magnitude ``mag`` on an image of ``height x width``."""
        raise NotImplementedError

    def warp_masks(self, masks: Any, mag: float, params: AffineParams, shape: Any) -> Any:
        """Masks moved with the image."""
        raise NotImplementedError

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.rand() > self.prob:
            return results
        return self.apply(results, self.magnitude())

    def apply(self, results: dict[str, Any], mag: float) -> dict[str, Any]:
        """Apply with the given signed magnitude (no random draw)."""
        keys = img_keys(results)
        if not keys:
            raise KeyError(f"{type(self).__name__}: results has no image")
        height, width = results[keys[0]].shape[:2]
        params = self.params(mag, height, width)
        for key in keys:
            results[key] = warp_image(
                results[key], params, self.img_border_value, self.interpolation
            )
        matrix = params.matrix(height, width)
        for key in bbox_keys(results):
            results[key] = warp_boxes(results[key], matrix, height, width)
        for key in mask_keys(results):
            results[key] = self.warp_masks(results[key], mag, params, (height, width))
        for key in seg_keys(results):
            results[key] = warp_image(results[key], params, self.seg_ignore_label, "nearest")
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(prob={self.prob}, level={self.level}, "
            f"min_mag={self.min_mag}, max_mag={self.max_mag}, reversal_prob={self.reversal_prob}, "
            f"img_border_value={self.img_border_value}, mask_border_value="
            f"{self.mask_border_value}, seg_ignore_label={self.seg_ignore_label}, "
            f"interpolation={self.interpolation!r})"
        )


@PIPELINES.register_module(name="mmdet3.Rotate")
class RotateV3(GeomTransformV3):
    """v3 ``Rotate``: ``mag`` degrees clockwise about ``((w-1)/2, (h-1)/2)`` (default
    ``max_mag=30``, at most 180)."""

    mag_range = (0.0, 180.0)
    default_max_mag = 30.0

    def params(self, mag: float, height: int, width: int) -> AffineParams:
        return AffineParams(angle=mag, center=((width - 1) * 0.5, (height - 1) * 0.5))

    def warp_masks(self, masks: Any, mag: float, params: AffineParams, shape: Any) -> Any:
        if self.interpolation != "bilinear":
            raise ValueError("mmdet3.Rotate: masks rotate with 'bilinear' interpolation only")
        return masks.rotate(shape, mag, params.center, 1.0, fill_val=self.mask_border_value)


class _TranslateV3(GeomTransformV3):
    direction = "horizontal"
    default_max_mag = 0.1

    def _offset(self, mag: float, height: int, width: int) -> int:
        return int((width if self.direction == "horizontal" else height) * mag)

    def params(self, mag: float, height: int, width: int) -> AffineParams:
        offset = float(self._offset(mag, height, width))
        horizontal = self.direction == "horizontal"
        return AffineParams(translate=(offset, 0.0) if horizontal else (0.0, offset))

    def warp_masks(self, masks: Any, mag: float, params: AffineParams, shape: Any) -> Any:
        offset = self._offset(mag, shape[0], shape[1])
        return masks.translate(
            shape, offset, self.direction, self.mask_border_value, self.interpolation
        )


@PIPELINES.register_module(name=["TranslateX", "mmdet3.TranslateX"])
class TranslateXV3(_TranslateV3):
    """v3 ``TranslateX``: right by ``int(w * mag)`` pixels (``max_mag`` 0.1 of the width)."""


@PIPELINES.register_module(name=["TranslateY", "mmdet3.TranslateY"])
class TranslateYV3(_TranslateV3):
    """v3 ``TranslateY``: down by ``int(h * mag)`` pixels (``max_mag`` 0.1 of the height)."""

    direction = "vertical"


class _ShearV3(GeomTransformV3):
    direction = "horizontal"
    mag_range = (0.0, 90.0)
    default_max_mag = 30.0

    def magnitude(self) -> float:
        mag = level_to_mag(self.level, self.min_mag, self.max_mag)
        mag = math.tan(mag * math.pi / 180)
        return -mag if np.random.rand() > self.reversal_prob else mag

    def params(self, mag: float, height: int, width: int) -> AffineParams:
        horizontal = self.direction == "horizontal"
        return AffineParams(shear=(mag, 0.0) if horizontal else (0.0, mag))

    def warp_masks(self, masks: Any, mag: float, params: AffineParams, shape: Any) -> Any:
        return masks.shear(shape, mag, self.direction, self.mask_border_value, self.interpolation)


@PIPELINES.register_module(name=["ShearX", "mmdet3.ShearX"])
class ShearXV3(_ShearV3):
    """v3 ``ShearX``: ``x += tan(mag) * y`` (``mag`` in degrees, ``max_mag`` 30)."""


@PIPELINES.register_module(name=["ShearY", "mmdet3.ShearY"])
class ShearYV3(_ShearV3):
    """v3 ``ShearY``: ``y += tan(mag) * x`` (``mag`` in degrees, ``max_mag`` 30)."""

    direction = "vertical"
