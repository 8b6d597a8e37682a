"""``Compose``: run a list of pipeline transforms on an MMDetection v2 ``results`` dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from detkit.registry import PIPELINES, build

__all__ = ["Compose"]


@PIPELINES.register_module()
class Compose:
    """Apply transforms in order; stop and return None as soon as one returns None.

    Args:
        transforms: transform configs (dicts with ``type``, built with ``PIPELINES``) or
            callables taking and returning a ``results`` dict.
    """

    def __init__(self, transforms: Sequence[dict | Callable[[dict], dict | None]]) -> None:
        if isinstance(transforms, (dict, str)) or not isinstance(transforms, Sequence):
            raise TypeError(
                f"transforms must be a list of dicts or callables, got {type(transforms).__name__}"
            )
        self.transforms: list[Callable[[dict], dict | None]] = []
        for index, transform in enumerate(transforms):
            if isinstance(transform, dict):
                transform = build(transform, PIPELINES, key_path=f"pipeline.{index}")
            if not callable(transform):
                raise TypeError(
                    f"pipeline.{index} must be a dict or a callable, got {type(transform).__name__}"
                )
            self.transforms.append(transform)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any] | None:
        for transform in self.transforms:
            out = transform(data)
            if out is None:
                return None
            data = out
        return data

    def __repr__(self) -> str:
        lines = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({lines}\n)"
