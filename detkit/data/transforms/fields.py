"""Which keys of an MMDetection v2 results dict a transform changes, and joint box filtering.

``img_fields`` / ``bbox_fields`` / ``mask_fields`` / ``seg_fields`` are honoured when present
(as in MMDetection v2). When a list is absent — a hand-built dict — the standard keys that are
present are used instead (``img``; ``gt_bboxes``/``gt_bboxes_ignore``; ``gt_masks``/
``gt_masks_ignore``; ``gt_semantic_seg``), where mmdet would silently skip them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "img_keys",
    "bbox_keys",
    "mask_keys",
    "seg_keys",
    "filter_invalid",
    "BBOX2LABEL",
    "BBOX2MASK",
]

BBOX2LABEL = {"gt_bboxes": "gt_labels", "gt_bboxes_ignore": "gt_labels_ignore"}
BBOX2MASK = {"gt_bboxes": "gt_masks", "gt_bboxes_ignore": "gt_masks_ignore"}


def _keys(results: dict[str, Any], list_key: str, defaults: tuple[str, ...]) -> list[str]:
    if list_key in results:
        keys = results[list_key]
        if not isinstance(keys, (list, tuple)):
            raise TypeError(f"results[{list_key!r}] must be a list of keys, got {keys!r}")
        return list(keys)
    return [k for k in defaults if k in results]


def img_keys(results: dict[str, Any]) -> list[str]:
    """Keys holding ``(H, W, C)`` images."""
    return _keys(results, "img_fields", ("img",))


def bbox_keys(results: dict[str, Any]) -> list[str]:
    """Keys holding ``[N, 4]`` xyxy boxes."""
    return _keys(results, "bbox_fields", ("gt_bboxes", "gt_bboxes_ignore"))


def mask_keys(results: dict[str, Any]) -> list[str]:
    """Keys holding ``BitmapMasks`` / ``PolygonMasks``."""
    return _keys(results, "mask_fields", ("gt_masks", "gt_masks_ignore"))


def seg_keys(results: dict[str, Any]) -> list[str]:
    """Keys holding ``(H, W)`` semantic segmentation maps."""
    return _keys(results, "seg_fields", ("gt_semantic_seg",))


def filter_invalid(results: dict[str, Any], min_size: float = 0) -> dict[str, Any]:
    """Keep boxes with ``x2 - x1 > min_size`` and ``y2 - y1 > min_size`` in every bbox field,
    and the same rows of the matching labels (``gt_labels``) and masks (``gt_masks``)."""
    for key in bbox_keys(results):
        boxes = results[key]
        keep = np.flatnonzero(
            ((boxes[:, 2] - boxes[:, 0]) > min_size) & ((boxes[:, 3] - boxes[:, 1]) > min_size)
        )
        results[key] = boxes[keep]
        for partner in (BBOX2LABEL.get(key), BBOX2MASK.get(key)):
            if partner in results:
                results[partner] = results[partner][keep]
    return results
