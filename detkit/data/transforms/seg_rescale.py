"""``SegRescale`` (MMDetection v2.28): rescale the seg maps only, nearest neighbour."""

from __future__ import annotations

from typing import Any

import cv2

from detkit.data.transforms.fields import seg_keys
from detkit.registry import PIPELINES
from detkit.structures.masks import rescale_size

__all__ = ["SegRescale"]


@PIPELINES.register_module()
class SegRescale:
    """Rescale every map of ``seg_fields`` by ``scale_factor`` (mmcv ``imrescale`` size rule:
    ``int(side * factor + 0.5)``, nearest); a factor of 1 leaves them as they are.

    Args:
        scale_factor: the factor (e.g. 1/8 for a stride-8 semantic head).
        backend: ``'cv2'`` (``'pillow'`` is accepted by mmdet but not supported here).
    """

    def __init__(self, scale_factor: float = 1, backend: str = "cv2") -> None:
        if backend != "cv2":
            raise ValueError(f"SegRescale: only backend='cv2' is supported, got {backend!r}")
        if not scale_factor > 0:
            raise ValueError(f"SegRescale: scale_factor must be > 0, got {scale_factor!r}")
        self.scale_factor = scale_factor
        self.backend = backend

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if self.scale_factor == 1:
            return results
        for key in seg_keys(results):
            seg = results[key]
            new_w, new_h = rescale_size((seg.shape[1], seg.shape[0]), self.scale_factor)
            results[key] = cv2.resize(seg, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        return results

    def __repr__(self) -> str:
        return f"SegRescale(scale_factor={self.scale_factor})"
