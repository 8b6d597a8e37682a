"""``Expand`` (MMDetection v2.28): place the image at a random spot of a larger mean-filled canvas.

Boxes, ``gt_bboxes_ignore``, bitmap **and polygon** masks (mmdet v2 refuses polygons here:
``PolygonMasks.expand`` raises) and seg maps move with the image; ``img_shape`` is the
canvas's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.data.transforms.fields import bbox_keys, mask_keys, seg_keys
from detkit.data.transforms.instance_ops import image_hw
from detkit.registry import PIPELINES

__all__ = ["Expand"]


@PIPELINES.register_module()
class Expand:
    """Expand by a ratio drawn in ``ratio_range`` with probability ``prob``.

    Args:
        mean: canvas colour of the dataset (RGB when ``to_rgb``, reversed to BGR then).
        to_rgb: ``mean`` is given in RGB order.
        ratio_range: ``(min, max)`` canvas/image size ratio.
        seg_ignore_label: canvas value of the seg maps (required when there are seg maps).
        prob: probability of expanding.

    Draws (mmdet order): ``uniform(0, 1)`` (skip if ``> prob``), ``uniform(min, max)`` for the
    ratio, ``uniform(0, w * ratio - w)`` for the left and ``uniform(0, h * ratio - h)`` for the
    top offset (both truncated to ints). The canvas is ``int(h * ratio) x int(w * ratio)``.
    """

    def __init__(
        self,
        mean: Sequence[float] = (0, 0, 0),
        to_rgb: bool = True,
        ratio_range: Sequence[float] = (1, 4),
        seg_ignore_label: int | None = None,
        prob: float = 0.5,
    ) -> None:
        if len(ratio_range) != 2 or not 1 <= ratio_range[0] <= ratio_range[1]:
            raise ValueError(
                f"Expand: ratio_range must be (min, max) with 1 <= min <= max, got {ratio_range!r}"
            )
        self.to_rgb = to_rgb
        self.ratio_range = tuple(ratio_range)
        self.mean = tuple(mean[::-1]) if to_rgb else tuple(mean)
        self.min_ratio, self.max_ratio = ratio_range
        self.seg_ignore_label = seg_ignore_label
        self.prob = prob

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.uniform(0, 1) > self.prob:
            return results
        h, w = image_hw(results)
        ratio = np.random.uniform(self.min_ratio, self.max_ratio)
        left = int(np.random.uniform(0, w * ratio - w))
        top = int(np.random.uniform(0, h * ratio - h))
        return self.apply(results, int(h * ratio), int(w * ratio), left, top)

    def apply(
        self, results: dict[str, Any], out_h: int, out_w: int, left: int, top: int
    ) -> dict[str, Any]:
        """Place the image at ``(left, top)`` of an ``out_h x out_w`` canvas (no random draw)."""
        img = results["img"]
        h, w = img.shape[:2]
        canvas = np.empty((out_h, out_w) + img.shape[2:], img.dtype)
        canvas[...] = np.asarray(self.mean, dtype=img.dtype) if img.ndim == 3 else self.mean[0]
        canvas[top : top + h, left : left + w] = img
        results["img"] = canvas
        results["img_shape"] = canvas.shape
        for key in bbox_keys(results):
            results[key] = results[key] + np.tile((left, top), 2).astype(results[key].dtype)
        for key in mask_keys(results):
            results[key] = results[key].expand(out_h, out_w, top, left)
        for key in seg_keys(results):
            if self.seg_ignore_label is None:
                raise ValueError(
                    f"Expand: results has seg map {key!r}; set seg_ignore_label to fill its canvas"
                )
            seg = results[key]
            expanded = np.full((out_h, out_w), self.seg_ignore_label, dtype=seg.dtype)
            expanded[top : top + h, left : left + w] = seg
            results[key] = expanded
        return results

    def __repr__(self) -> str:
        return (
            f"Expand(mean={self.mean}, to_rgb={self.to_rgb}, ratio_range={self.ratio_range}, "
            f"seg_ignore_label={self.seg_ignore_label}, prob={self.prob})"
        )
