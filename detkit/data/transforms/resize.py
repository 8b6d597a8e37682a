"""``Resize`` (MMDetection v2 semantics): pick a scale, resize image, boxes, masks and seg.

Scale choice (only when ``results`` has neither ``scale`` nor ``scale_factor``):
``ratio_range=(lo, hi)`` -> one ``img_scale`` times ``r ~ U[lo, hi)``; one ``img_scale`` -> it;
``multiscale_mode='range'`` (two scales) -> long edge and short edge drawn independently as
integers in the inclusive ranges; ``'value'`` -> one of the listed scales. With
``keep_ratio=True`` a scale ``(a, b)`` means "long edge <= max(a, b), short edge <= min(a, b)"
and the new size is ``(int(w * f + 0.5), int(h * f + 0.5))``; ``scale_factor`` is then recomputed
from the actual sizes, float32 ``[w_scale, h_scale, w_scale, h_scale]``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import bbox_keys, img_keys, mask_keys, seg_keys
from detkit.registry import PIPELINES
from detkit.structures.masks import rescale_size

__all__ = ["Resize"]

_CV2_INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _check_scale(scale: object, where: str) -> tuple[int, int]:
    if not (isinstance(scale, tuple) and len(scale) == 2):
        raise TypeError(f"Resize: {where} must be a tuple (w, h) / (long, short), got {scale!r}")
    return scale  # type: ignore[return-value]


@PIPELINES.register_module()
class Resize:
    """Resize images (cv2, ``interpolation``), boxes (times ``scale_factor``, clipped to the
    image when ``bbox_clip_border``), masks and seg maps (nearest).

    Args:
        img_scale: a ``(w, h)`` tuple or a list of them.
        multiscale_mode: ``'range'`` or ``'value'``.
        ratio_range: ``(lo, hi)`` factor range applied to the single ``img_scale``.
        keep_ratio: keep the aspect ratio (see module docstring).
        bbox_clip_border: clip boxes to the new image.
        backend: only ``'cv2'`` is supported.
        interpolation: image interpolation (``'bilinear'`` default).
        override: discard a ``scale`` already in results (for chained Resizes).
    """

    def __init__(
        self,
        img_scale: tuple[int, int] | list[tuple[int, int]] | None = None,
        multiscale_mode: str = "range",
        ratio_range: tuple[float, float] | None = None,
        keep_ratio: bool = True,
        bbox_clip_border: bool = True,
        backend: str = "cv2",
        interpolation: str = "bilinear",
        override: bool = False,
    ) -> None:
        if img_scale is None:
            self.img_scale = None
        else:
            scales = img_scale if isinstance(img_scale, list) else [img_scale]
            self.img_scale = [_check_scale(s, "img_scale entries") for s in scales]
        if ratio_range is not None:
            if self.img_scale is None or len(self.img_scale) != 1:
                raise ValueError("Resize: ratio_range needs exactly one img_scale")
            if ratio_range[0] > ratio_range[1]:
                raise ValueError(f"Resize: ratio_range must be (min, max), got {ratio_range}")
        elif multiscale_mode not in ("value", "range"):
            raise ValueError(
                f"Resize: multiscale_mode must be 'value' or 'range', got {multiscale_mode!r}"
            )
        if backend != "cv2":
            raise ValueError(f"Resize: only backend='cv2' is supported, got {backend!r}")
        if interpolation not in _CV2_INTERPOLATIONS:
            raise ValueError(
                f"Resize: interpolation must be one of {sorted(_CV2_INTERPOLATIONS)}, got "
                f"{interpolation!r}"
            )
        self.multiscale_mode = multiscale_mode
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.bbox_clip_border = bbox_clip_border
        self.backend = backend
        self.interpolation = interpolation
        self.override = override

    # --- scale choice -------------------------------------------------------------------
    def random_scale(self, results: dict[str, Any]) -> None:
        """Draw a scale (see the module docstring); sets ``scale`` and ``scale_idx``."""
        if self.img_scale is None:
            raise KeyError("Resize: img_scale is None and results has no 'scale' or 'scale_factor'")
        scale_idx: int | None
        if self.ratio_range is not None:
            lo, hi = self.ratio_range
            ratio = np.random.random_sample() * (hi - lo) + lo
            base = self.img_scale[0]
            scale, scale_idx = (int(base[0] * ratio), int(base[1] * ratio)), None
        elif len(self.img_scale) == 1:
            scale, scale_idx = self.img_scale[0], 0
        elif self.multiscale_mode == "range":
            if len(self.img_scale) != 2:
                raise ValueError(
                    f"Resize: 'range' mode needs exactly 2 img_scales, got {self.img_scale}"
                )
            longs = [max(s) for s in self.img_scale]
            shorts = [min(s) for s in self.img_scale]
            long_edge = np.random.randint(min(longs), max(longs) + 1)
            short_edge = np.random.randint(min(shorts), max(shorts) + 1)
            scale, scale_idx = (int(long_edge), int(short_edge)), None
        else:
            scale_idx = int(np.random.randint(len(self.img_scale)))
            scale = self.img_scale[scale_idx]
        results["scale"] = scale
        results["scale_idx"] = scale_idx

    def _choose_scale(self, results: dict[str, Any]) -> None:
        if "scale" not in results:
            if "scale_factor" in results:
                factor = results["scale_factor"]
                if not isinstance(factor, float):
                    raise TypeError(
                        f"Resize: results['scale_factor'] must be a float here, got {factor!r}"
                    )
                h, w = results[img_keys(results)[0]].shape[:2]
                results["scale"] = (int(w * factor), int(h * factor))
            else:
                self.random_scale(results)
        elif self.override:
            results.pop("scale")
            results.pop("scale_factor", None)
            self.random_scale(results)
        elif "scale_factor" in results:
            raise KeyError("Resize: results has both 'scale' and 'scale_factor'; use override=True")

    # --- resizing -----------------------------------------------------------------------
    def _new_size(self, h: int, w: int, scale: tuple[int, int]) -> tuple[int, int]:
        """``(new_w, new_h)``."""
        if self.keep_ratio:
            return rescale_size((w, h), scale)
        return int(scale[0]), int(scale[1])

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        self._choose_scale(results)
        scale = results["scale"]
        for key in img_keys(results):
            img = results[key]
            h, w = img.shape[:2]
            new_w, new_h = self._new_size(h, w, scale)
            resized = cv2.resize(
                img, (new_w, new_h), interpolation=_CV2_INTERPOLATIONS[self.interpolation]
            )
            if resized.ndim == 2 and img.ndim == 3:
                resized = resized[:, :, None]
            results[key] = resized
            w_scale, h_scale = new_w / w, new_h / h
            results["img_shape"] = resized.shape
            results["pad_shape"] = resized.shape
            results["scale_factor"] = np.array(
                [w_scale, h_scale, w_scale, h_scale], dtype=np.float32
            )
            results["keep_ratio"] = self.keep_ratio
        new_h, new_w = results["img_shape"][:2]
        for key in bbox_keys(results):
            boxes = results[key] * results["scale_factor"]
            if self.bbox_clip_border:
                boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, new_w)
                boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, new_h)
            results[key] = boxes
        for key in mask_keys(results):
            if results[key] is None:
                continue
            if self.keep_ratio:
                results[key] = results[key].rescale(scale)
            else:
                results[key] = results[key].resize((new_h, new_w))
        for key in seg_keys(results):
            seg = results[key]
            h, w = seg.shape[:2]
            seg_w, seg_h = self._new_size(h, w, scale)
            results[key] = cv2.resize(seg, (seg_w, seg_h), interpolation=cv2.INTER_NEAREST)
        return results

    def __repr__(self) -> str:
        return (
            f"Resize(img_scale={self.img_scale}, multiscale_mode={self.multiscale_mode!r}, "
            f"ratio_range={self.ratio_range}, keep_ratio={self.keep_ratio}, "
            f"bbox_clip_border={self.bbox_clip_border}, interpolation={self.interpolation!r}, "
            f"override={self.override})"
        )
