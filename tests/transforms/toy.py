"""Hand-made toy samples shared by the transform tests (MMDetection v2 ``test_rotate`` style)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from detkit.structures.masks import BitmapMasks, PolygonMasks


def toy_results(poly: bool = False) -> dict[str, Any]:
    """2x4 BGR image [[1,2,3,4],[5,6,7,8]] on 3 channels, one box with label 1, one ignored
    box, one mask, a seg map equal to the image's first channel; field lists set."""
    img = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.uint8)
    img = np.stack([img, img, img], axis=-1)
    if poly:
        masks = PolygonMasks([[np.array([1, 0, 2, 0, 2, 1, 1, 1], dtype=np.float64)]], 2, 4)
    else:
        masks = BitmapMasks(np.array([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=np.uint8)[None], 2, 4)
    return {
        "img": img,
        "img_shape": img.shape,
        "img_fields": ["img"],
        "bbox_fields": ["gt_bboxes", "gt_bboxes_ignore"],
        "gt_bboxes": np.array([[0.0, 0.0, 2.0, 1.0]], dtype=np.float32),
        "gt_bboxes_ignore": np.array([[2.0, 0.0, 3.0, 1.0]], dtype=np.float32),
        "gt_labels": np.array([1], dtype=np.int64),
        "mask_fields": ["gt_masks"],
        "gt_masks": masks,
        "seg_fields": ["gt_semantic_seg"],
        "gt_semantic_seg": img[..., 0].copy(),
    }


def random_results(
    seed: int = 0, h: int = 48, w: int = 64, n: int = 6, poly: bool = False
) -> dict[str, Any]:
    """A random sample with ``n`` rectangular instances (boxes, labels, masks) and a seg map."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    x1 = rng.integers(0, w - 8, n)
    y1 = rng.integers(0, h - 8, n)
    x2 = x1 + rng.integers(4, 8, n)
    y2 = y1 + rng.integers(4, 8, n)
    boxes = np.stack([x1, y1, x2, y2], 1).astype(np.float32)
    if poly:
        masks = PolygonMasks(
            [[np.array([a, b, c, b, c, d, a, d], dtype=np.float64)] for a, b, c, d in boxes], h, w
        )
    else:
        bitmaps = np.zeros((n, h, w), dtype=np.uint8)
        for i, (a, b, c, d) in enumerate(boxes.astype(int)):
            bitmaps[i, b:d, a:c] = 1
        masks = BitmapMasks(bitmaps, h, w)
    return {
        "img": img,
        "img_shape": img.shape,
        "ori_shape": img.shape,
        "img_fields": ["img"],
        "bbox_fields": ["gt_bboxes"],
        "gt_bboxes": boxes,
        "gt_labels": rng.integers(0, 8, n).astype(np.int64),
        "mask_fields": ["gt_masks"],
        "gt_masks": masks,
        "seg_fields": ["gt_semantic_seg"],
        "gt_semantic_seg": rng.integers(0, 8, (h, w), dtype=np.uint8),
    }


def copy_results(results: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(results)
