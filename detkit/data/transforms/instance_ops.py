"""Keeping boxes, labels and masks of a results dict aligned, and moving masks by whole pixels.

Shared by the crop, shift, affine and multi-image transforms. Boxes are ``[N, 4]`` float32 xyxy
absolute pixels; masks are :class:`BitmapMasks` ``(N, H, W)`` or :class:`PolygonMasks` with
flat ``[x0, y0, x1, y1, ...]`` pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import BBOX2LABEL, BBOX2MASK
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = [
    "keep_rows",
    "crop_masks",
    "translate_masks",
    "warp_masks",
    "concat_masks",
    "find_inside_boxes",
    "image_hw",
    "Masks",
]

Masks = BitmapMasks | PolygonMasks


def image_hw(results: dict[str, Any]) -> tuple[int, int]:
    """``(h, w)`` of ``results['img']`` (a clear error when it is missing)."""
    if "img" not in results:
        raise KeyError("results has no 'img' (load the image before this transform)")
    shape = results["img"].shape
    return int(shape[0]), int(shape[1])


def keep_rows(results: dict[str, Any], key: str, keep: np.ndarray) -> None:
    """Index bbox field ``key`` and its partner labels / masks (``gt_labels``/``gt_masks`` for
    ``gt_bboxes``, the ``_ignore`` ones for ``gt_bboxes_ignore``) with ``keep`` (bool or int)."""
    index = np.flatnonzero(keep) if keep.dtype == bool else keep
    results[key] = results[key][index]
    for partner in (BBOX2LABEL.get(key), BBOX2MASK.get(key)):
        if partner in results and results[partner] is not None:
            results[partner] = results[partner][index]


def find_inside_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool ``[N]``: boxes overlapping the ``height x width`` image by more than a line
    (mmdet ``find_inside_bboxes``: ``x1 < w, x2 > 0, y1 < h, y2 > 0``)."""
    return (boxes[:, 0] < width) & (boxes[:, 2] > 0) & (boxes[:, 1] < height) & (boxes[:, 3] > 0)


def crop_masks(masks: Masks, bbox: Sequence[int], rows: np.ndarray | None = None) -> Masks:
    """``masks[rows].crop(bbox)`` (integer xyxy, clipped to the image, at least 1x1; all rows
    when None) without copying the full-size rows first; for bitmaps
    only each mask's rectangle of non-zero pixels is copied into a zero (lazily allocated)
    stack, and the rectangles are kept, so the later rect-aware steps (Resize, Flip, Pad)
    never touch the empty rest. Same pixels as ``BitmapMasks.crop``."""
    if rows is None:
        rows = np.arange(len(masks))
    if isinstance(masks, PolygonMasks) or len(masks) == 0:
        return masks[rows].crop(np.asarray(bbox))
    x1, y1 = min(max(int(bbox[0]), 0), masks.width), min(max(int(bbox[1]), 0), masks.height)
    x2, y2 = min(max(int(bbox[2]), 0), masks.width), min(max(int(bbox[3]), 0), masks.height)
    w, h = max(x2 - x1, 1), max(y2 - y1, 1)
    out = np.zeros((len(rows), h, w), dtype=np.uint8)
    rects: list[tuple[int, int, int, int] | None] = []
    all_rects = masks.rects
    for i, row in enumerate(rows):
        rect = all_rects[int(row)]
        if rect is None:
            rects.append(None)
            continue
        a, b = max(rect[0], x1), max(rect[1], y1)
        c, d = min(rect[2], x1 + w, masks.width), min(rect[3], y1 + h, masks.height)
        if c <= a or d <= b:
            rects.append(None)
            continue
        out[i, b - y1 : d - y1, a - x1 : c - x1] = masks.masks[int(row), b:d, a:c]
        rects.append((a - x1, b - y1, c - x1, d - y1))  # loose rectangles are allowed
    return BitmapMasks._with_rects(out, h, w, rects)  # the rectangles are BitmapMasks' own contract


def translate_masks(
    masks: Masks, dx: int, dy: int, out_shape: tuple[int, int], region: Sequence[int] | None = None
) -> Masks:
    """Masks moved by whole pixels ``(dx, dy)`` onto an ``out_shape = (h, w)`` canvas.

    Only content landing inside ``region = (x1, y1, x2, y2)`` of the canvas (default: all of
    it) is kept. Bitmaps are copied by slices (exact); polygon vertices are shifted and clipped
    to the region.
    """
    out_h, out_w = int(out_shape[0]), int(out_shape[1])
    rx1, ry1, rx2, ry2 = (0, 0, out_w, out_h) if region is None else (int(v) for v in region)
    rx1, ry1, rx2, ry2 = max(rx1, 0), max(ry1, 0), min(rx2, out_w), min(ry2, out_h)
    if isinstance(masks, PolygonMasks):
        out = []
        for obj in masks.masks:
            polys = []
            for p in obj:
                q = np.array(p, dtype=np.float64)
                q[0::2] = np.clip(q[0::2] + dx, rx1, max(rx2, rx1))
                q[1::2] = np.clip(q[1::2] + dy, ry1, max(ry2, ry1))
                polys.append(q)
            out.append(polys)
        return PolygonMasks(out, out_h, out_w)
    canvas = np.zeros((len(masks), out_h, out_w), dtype=np.uint8)
    x1, x2 = max(rx1, dx), min(rx2, dx + masks.width)
    y1, y2 = max(ry1, dy), min(ry2, dy + masks.height)
    if len(masks) and x2 > x1 and y2 > y1:
        canvas[:, y1:y2, x1:x2] = masks.masks[:, y1 - dy : y2 - dy, x1 - dx : x2 - dx]
    return BitmapMasks(canvas, out_h, out_w)


def warp_masks(masks: Masks, matrix: np.ndarray, out_shape: tuple[int, int]) -> Masks:
    """Masks mapped by a 3x3 projective ``matrix`` (source -> output pixel coordinates) onto
    an ``out_shape = (h, w)`` canvas: bitmaps with ``cv2.warpPerspective`` (nearest, zero
    border), polygons vertex by vertex, clipped to the canvas."""
    out_h, out_w = int(out_shape[0]), int(out_shape[1])
    m = np.asarray(matrix, dtype=np.float64)
    if isinstance(masks, PolygonMasks):
        out = []
        for obj in masks.masks:
            polys = []
            for p in obj:
                xy = np.asarray(p, dtype=np.float64).reshape(-1, 2)
                mapped = np.concatenate([xy, np.ones((len(xy), 1))], 1) @ m.T
                mapped = mapped[:, :2] / mapped[:, 2:3]
                mapped[:, 0] = np.clip(mapped[:, 0], 0, out_w)
                mapped[:, 1] = np.clip(mapped[:, 1], 0, out_h)
                polys.append(mapped.reshape(-1))
            out.append(polys)
        return PolygonMasks(out, out_h, out_w)
    if len(masks) == 0:
        return BitmapMasks([], out_h, out_w)
    chunks = []
    for i in range(0, len(masks), 4):  # cv2 warps at most 4 channels with a constant border
        hwc = np.ascontiguousarray(masks.masks[i : i + 4].transpose(1, 2, 0))
        warped = cv2.warpPerspective(
            hwc,
            m,
            (out_w, out_h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        chunks.append(warped.reshape(out_h, out_w, -1).transpose(2, 0, 1))
    return BitmapMasks(np.concatenate(chunks), out_h, out_w)


def concat_masks(parts: Sequence[Masks], out_shape: tuple[int, int]) -> Masks:
    """One mask set of ``out_shape = (h, w)`` from several of that size; polygon sets stay
    polygons, and any bitmap among them makes the result a bitmap set (polygons rasterised)."""
    out_h, out_w = int(out_shape[0]), int(out_shape[1])
    for part in parts:
        if (part.height, part.width) != (out_h, out_w):
            raise ValueError(
                f"concat_masks: masks of size {(part.height, part.width)}, expected "
                f"{(out_h, out_w)}"
            )
    if all(isinstance(p, PolygonMasks) for p in parts):
        return PolygonMasks([obj for p in parts for obj in p.masks], out_h, out_w)
    arrays = [(p.to_bitmap() if isinstance(p, PolygonMasks) else p).masks for p in parts]
    return BitmapMasks(np.concatenate(arrays) if arrays else [], out_h, out_w)
