"""``MultiScaleFlipAug`` (MMDetection v2): run the inner transforms once per (scale, flip)
and return a dict of lists (one entry per augmentation, scales outer, ``(False, None)``
first then ``(True, d)`` for each flip direction)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detkit.registry import PIPELINES, build

__all__ = ["MultiScaleFlipAug"]

Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


@PIPELINES.register_module()
class MultiScaleFlipAug:
    """Test-time augmentation over scales and flips.

    Args:
        transforms: inner transform configs (or built transforms), applied in order.
        img_scale: a ``(w, h)`` tuple or a list of them (sets ``results['scale']``).
        scale_factor: a float or list of floats (sets ``results['scale_factor']``); exactly one
            of ``img_scale`` and ``scale_factor``.
        flip: also run flipped copies.
        flip_direction: a direction or a list of them.
    """

    def __init__(
        self,
        transforms: Sequence[Mapping[str, Any] | Transform],
        img_scale: tuple[int, int] | list[tuple[int, int]] | None = None,
        scale_factor: float | list[float] | None = None,
        flip: bool = False,
        flip_direction: str | list[str] = "horizontal",
    ) -> None:
        if (img_scale is None) == (scale_factor is None):
            raise ValueError("MultiScaleFlipAug: set exactly one of img_scale and scale_factor")
        if img_scale is not None:
            self.img_scale = img_scale if isinstance(img_scale, list) else [img_scale]
            self.scale_key = "scale"
            if not all(isinstance(s, tuple) for s in self.img_scale):
                raise TypeError(
                    f"MultiScaleFlipAug: img_scale entries must be tuples, got {img_scale!r}"
                )
        else:
            self.img_scale = scale_factor if isinstance(scale_factor, list) else [scale_factor]
            self.scale_key = "scale_factor"
        self.flip = flip
        self.flip_direction = (
            flip_direction if isinstance(flip_direction, list) else [flip_direction]
        )
        if not all(isinstance(d, str) for d in self.flip_direction):
            raise TypeError(
                "MultiScaleFlipAug: flip_direction must be str or list of str, got "
                f"{flip_direction!r}"
            )
        if not flip and self.flip_direction != ["horizontal"]:
            warnings.warn(
                "MultiScaleFlipAug: flip_direction has no effect when flip is False", stacklevel=2
            )
        if flip and not any(
            isinstance(t, Mapping) and t.get("type") == "RandomFlip" for t in transforms
        ):
            warnings.warn(
                "MultiScaleFlipAug: flip has no effect without a RandomFlip in transforms",
                stacklevel=2,
            )
        self.transforms: list[Transform] = [build(t, PIPELINES) for t in transforms]

    def _run(self, results: dict[str, Any]) -> dict[str, Any] | None:
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __call__(self, results: dict[str, Any]) -> dict[str, list[Any]]:
        flip_args: list[tuple[bool, str | None]] = [(False, None)]
        if self.flip:
            flip_args += [(True, d) for d in self.flip_direction]
        aug_data = []
        for scale in self.img_scale:
            for flip, direction in flip_args:
                one = results.copy()
                one[self.scale_key] = scale
                one["flip"] = flip
                one["flip_direction"] = direction
                out = self._run(one)
                if out is None:
                    raise ValueError(
                        f"MultiScaleFlipAug: a transform returned None for scale {scale}, flip "
                        f"{flip}"
                    )
                aug_data.append(out)
        return {key: [data[key] for data in aug_data] for key in aug_data[0]}

    def __repr__(self) -> str:
        return (
            f"MultiScaleFlipAug(transforms={self.transforms}, img_scale={self.img_scale}, "
            f"flip={self.flip}, flip_direction={self.flip_direction})"
        )
