"""``RandomFlip`` (MMDetection v2 semantics): flip image, boxes, masks and seg.

Directions ``'horizontal'`` (``x1' = w - x2``, ``x2' = w - x1``, no -1), ``'vertical'`` (with h)
and ``'diagonal'`` (both). When ``results`` has no ``flip`` key one ``np.random.choice`` draw
over ``directions + [None]`` decides (a float ``flip_ratio`` is shared evenly among the
directions); a ``flip`` already present (test time) is used as is.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import bbox_keys, img_keys, mask_keys, seg_keys
from detkit.registry import PIPELINES
from detkit.structures.boxes import FLIP_DIRECTIONS, flip_boxes

__all__ = ["RandomFlip", "flip_image"]

_CV2_FLIP_CODES = {"horizontal": 1, "vertical": 0, "diagonal": -1}


def flip_image(img: np.ndarray, direction: str) -> np.ndarray:
    """Contiguous flipped copy of an ``(H, W)`` / ``(H, W, C)`` array (``cv2.flip``)."""
    flipped = cv2.flip(img, _CV2_FLIP_CODES[direction])
    return flipped[:, :, None] if flipped.ndim == 2 and img.ndim == 3 else flipped


@PIPELINES.register_module()
class RandomFlip:
    """Flip with probability ``flip_ratio``.

    Args:
        flip_ratio: None (only usable when ``results['flip']`` is set), a float in [0, 1]
            shared by the directions, or one float per direction (sum <= 1).
        direction: one of ``'horizontal'``, ``'vertical'``, ``'diagonal'`` or a list of them.
    """

    def __init__(
        self,
        flip_ratio: float | list[float] | None = None,
        direction: str | list[str] = "horizontal",
    ) -> None:
        directions = direction if isinstance(direction, list) else [direction]
        if not all(isinstance(d, str) and d in FLIP_DIRECTIONS for d in directions):
            raise ValueError(
                f"RandomFlip: direction must be in {FLIP_DIRECTIONS} (or a list), got {direction!r}"
            )
        if isinstance(flip_ratio, list):
            if len(flip_ratio) != len(directions) or not isinstance(direction, list):
                raise ValueError(
                    f"RandomFlip: one flip_ratio per direction needed, got {flip_ratio} for "
                    f"{direction}"
                )
            if not all(isinstance(r, float) for r in flip_ratio) or not 0 <= sum(flip_ratio) <= 1:
                raise ValueError(
                    "RandomFlip: flip_ratio list must hold floats summing to <= 1, got "
                    f"{flip_ratio}"
                )
        elif isinstance(flip_ratio, (float, int)) and not isinstance(flip_ratio, bool):
            if not 0 <= flip_ratio <= 1:
                raise ValueError(f"RandomFlip: flip_ratio must be in [0, 1], got {flip_ratio}")
        elif flip_ratio is not None:
            raise ValueError(
                f"RandomFlip: flip_ratio must be None, a float or a list, got {flip_ratio!r}"
            )
        self.flip_ratio = flip_ratio
        self.direction = direction

    def draw_direction(self) -> str | None:
        """One draw: a direction to flip in, or None for no flip."""
        if self.flip_ratio is None:
            raise KeyError("RandomFlip: flip_ratio is None and results has no 'flip' key")
        directions: list[str | None] = (
            list(self.direction) if isinstance(self.direction, list) else [self.direction]
        )
        if isinstance(self.flip_ratio, list):
            probs = list(self.flip_ratio) + [1 - sum(self.flip_ratio)]
        else:
            probs = [self.flip_ratio / len(directions)] * len(directions) + [1 - self.flip_ratio]
        directions.append(None)
        return directions[int(np.random.choice(len(directions), p=probs))]

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "flip" not in results:
            chosen = self.draw_direction()
            results["flip"] = chosen is not None
            results.setdefault("flip_direction", chosen)
        elif "flip_direction" not in results:
            results["flip_direction"] = None
        if results["flip"]:
            direction = results["flip_direction"]
            if direction not in FLIP_DIRECTIONS:
                raise ValueError(
                    f"RandomFlip: results['flip_direction'] must be in {FLIP_DIRECTIONS}, got "
                    f"{direction!r}"
                )
            for key in img_keys(results):
                results[key] = flip_image(results[key], direction)
            for key in bbox_keys(results):
                results[key] = flip_boxes(results[key], results["img_shape"], direction)
            for key in mask_keys(results):
                results[key] = results[key].flip(direction)
            for key in seg_keys(results):
                results[key] = flip_image(results[key], direction)
        return results

    def __repr__(self) -> str:
        return f"RandomFlip(flip_ratio={self.flip_ratio}, direction={self.direction!r})"
