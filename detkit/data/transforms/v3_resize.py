"""MMDetection 3.x ``RandomResize`` (mmcv 2's) where v2's ``Resize`` draws differently.

Given two scales, mmcv 2 draws each edge from the scales' own positions,
``(randint(min(s[0]), max(s[0]) + 1), randint(min(s[1]), max(s[1]) + 1))``, while v2's
``Resize(multiscale_mode='range')`` draws the long edge from the scales' long edges, then the
short one. Both agree when every scale is written ``(long, short)`` (the v3 translator then
uses v2's ``Resize``); this class is used for the other cases. A single scale and
``ratio_range`` draw as v2's ``Resize`` (translated to it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detkit.data.transforms.resize import Resize
from detkit.registry import PIPELINES

__all__ = ["RandomResizeV3"]


@PIPELINES.register_module(name=["RandomResize", "mmdet3.RandomResize"])
class RandomResizeV3(Resize):
    """Resize to a scale drawn edge by edge between two ``(w, h)`` scales (v3 semantics).

    Args:
        scale: two ``(w, h)`` scales.
        keep_ratio, bbox_clip_border, backend, interpolation: as :class:`Resize`.
    """

    def __init__(self, scale: list[tuple[int, int]], **kwargs: Any) -> None:
        if not isinstance(scale, (list, tuple)) or len(scale) != 2:
            raise ValueError(f"RandomResize: scale must be two (w, h) scales, got {scale!r}")
        super().__init__(img_scale=[(int(s[0]), int(s[1])) for s in scale], **kwargs)

    def random_scale(self, results: dict[str, Any]) -> None:
        """Draw ``(edge 0, edge 1)`` as mmcv 2's ``RandomResize._random_sample``."""
        assert self.img_scale is not None
        first = [s[0] for s in self.img_scale]
        second = [s[1] for s in self.img_scale]
        edge_0 = np.random.randint(min(first), max(first) + 1)
        edge_1 = np.random.randint(min(second), max(second) + 1)
        results["scale"] = (int(edge_0), int(edge_1))
        results["scale_idx"] = None
