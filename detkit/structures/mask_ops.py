"""Raster kernels behind ``BitmapMasks`` for ``(N, H, W)`` uint8 0/1 stacks (OpenCV, CPU).

Instances usually cover a few percent of a Cityscapes image, so each kernel works only inside
a per-mask *rectangle* ``(x0, y0, x1, y1)`` (exclusive ends) that contains all the mask's
non-zero pixels (it may be loose; None = empty mask) and returns the rectangles of its output.
Outside them every output is 0 anyway, so the results equal the whole-mask OpenCV calls that
mmcv makes (tests check this bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from detkit.structures.affine import apply_matrix_to_points

__all__ = [
    "Rect",
    "c_order",
    "stack_c_order",
    "mask_rects",
    "resize_stack",
    "flip_stack",
    "pad_stack",
    "warp_stack",
]

Rect = tuple[int, int, int, int]
_CV2_INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


def _check_interpolation(interpolation: str) -> int:
    if interpolation not in _CV2_INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {sorted(_CV2_INTERPOLATIONS)}, got {interpolation!r}"
        )
    return _CV2_INTERPOLATIONS[interpolation]


def c_order(masks: NDArray[Any]) -> NDArray[Any]:
    """C-contiguous ``(N, H, W)`` stack. pycocotools decodes column-major masks, and every
    OpenCV call on a Fortran-ordered mask copies it first; ``cv2.transpose`` per mask converts
    faster than ``np.ascontiguousarray`` (``bench/pipeline.py`` measures the seed pipeline)."""
    if masks.flags["C_CONTIGUOUS"]:
        return masks
    n, height, width = masks.shape
    if masks.dtype == np.uint8 and masks.strides[1:] == (1, height):
        out = np.empty((n, height, width), dtype=np.uint8)
        for mask, target in zip(masks, out):
            cv2.transpose(mask.T, dst=target)
        return out
    return np.ascontiguousarray(masks)


def stack_c_order(masks: list[NDArray[Any]] | tuple[NDArray[Any], ...]) -> NDArray[Any]:
    """Stack ``(H, W)`` masks into a C-contiguous ``(N, H, W)`` array; column-major uint8 masks
    (pycocotools' decode output) are transposed straight into place with ``cv2.transpose``."""
    first = masks[0]
    if not (
        first.dtype == np.uint8
        and all(
            m.flags["F_CONTIGUOUS"]
            and not m.flags["C_CONTIGUOUS"]
            and m.shape == first.shape
            and m.dtype == np.uint8
            for m in masks
        )
    ):
        return c_order(np.stack(masks))
    out = np.empty((len(masks), *first.shape), dtype=np.uint8)
    for mask, target in zip(masks, out):
        cv2.transpose(mask.T, dst=target)
    return out


def mask_rects(masks: NDArray[Any]) -> list[Rect | None]:
    """Tight rectangles of the non-zero pixels of each mask (None for an empty mask)."""
    # reductions over one axis of an [N, H, W] array: arrays, never a scalar
    rows_any = cast(NDArray[np.bool_], masks.any(axis=2))
    cols_any = cast(NDArray[np.bool_], masks.any(axis=1))
    rects: list[Rect | None] = []
    for rows, cols in zip(rows_any, cols_any):
        ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)
        rects.append(
            (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1) if len(ys) else None
        )
    return rects


def _nearest_index(src: int, dst: int) -> NDArray[Any]:
    """Source index of each destination pixel, as ``cv2.INTER_NEAREST`` computes it:
    ``min(floor(i * src / dst), src - 1)``."""
    index: NDArray[Any] = np.minimum(
        np.floor(np.arange(dst) * (src / dst)).astype(np.int64), src - 1
    )
    return index


def _fill_rects(
    masks: NDArray[Any],
    rects: list[Rect | None],
    out_hw: tuple[int, int],
    fill: Callable[[NDArray[Any], Rect, NDArray[Any]], Rect | None],
) -> tuple[NDArray[Any], list[Rect | None]]:
    """Run ``fill(mask, rect, target)`` for each non-empty mask, ``target`` being its plane of a
    zeroed ``(N, *out_hw)`` output (calloc: untouched pages cost nothing); ``fill`` writes its
    output rectangle and returns it (None: nothing written). Returns the output and rectangles."""
    out = np.zeros((len(masks), int(out_hw[0]), int(out_hw[1])), dtype=masks.dtype)
    new_rects = [
        None if rect is None else fill(mask, rect, target)
        for mask, rect, target in zip(masks, rects, out)
    ]
    return out, new_rects


def resize_stack(
    masks: NDArray[Any], out_hw: tuple[int, int], interpolation: str, rects: list[Rect | None]
) -> tuple[NDArray[Any], list[Rect | None] | None]:
    """Resize to ``out_hw = (h, w)``. Nearest works inside the rectangles with cv2's index rule;
    bilinear resizes whole masks with ``cv2.resize`` (and returns no rectangles)."""
    flag = _check_interpolation(interpolation)
    out_h, out_w = int(out_hw[0]), int(out_hw[1])
    if interpolation != "nearest":
        out = np.empty((len(masks), out_h, out_w), dtype=masks.dtype)
        for mask, target in zip(masks, out):
            cv2.resize(mask, (out_w, out_h), dst=target, interpolation=flag)
        return out, None
    height, width = masks.shape[1:]
    rows, cols = _nearest_index(height, out_h), _nearest_index(width, out_w)

    def fill(mask: NDArray[Any], rect: Rect, target: NDArray[Any]) -> Rect | None:
        x0, y0, x1, y1 = rect
        r0, r1 = (int(v) for v in np.searchsorted(rows, [y0, y1]))
        c0, c1 = (int(v) for v in np.searchsorted(cols, [x0, x1]))
        if r1 <= r0 or c1 <= c0:
            return None
        target[r0:r1, c0:c1] = mask[rows[r0:r1]][:, cols[c0:c1]]
        return (c0, r0, c1, r1)

    return _fill_rects(masks, rects, (out_h, out_w), fill)


def flip_stack(
    masks: NDArray[Any], direction: str, rects: list[Rect | None]
) -> tuple[NDArray[Any], list[Rect | None]]:
    """Flip ``'horizontal'``, ``'vertical'`` or ``'diagonal'``, copying only the rectangles."""
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(
            f"flip direction must be horizontal, vertical or diagonal, got {direction!r}"
        )
    height, width = masks.shape[1:]
    flip_x = direction in ("horizontal", "diagonal")
    flip_y = direction in ("vertical", "diagonal")

    def fill(mask: NDArray[Any], rect: Rect, target: NDArray[Any]) -> Rect:
        x0, y0, x1, y1 = rect
        nx0, nx1 = (width - x1, width - x0) if flip_x else (x0, x1)
        ny0, ny1 = (height - y1, height - y0) if flip_y else (y0, y1)
        target[ny0:ny1, nx0:nx1] = mask[y0:y1, x0:x1][
            :: -1 if flip_y else 1, :: -1 if flip_x else 1
        ]
        return (nx0, ny0, nx1, ny1)

    return _fill_rects(masks, rects, (height, width), fill)


def pad_stack(
    masks: NDArray[Any], out_hw: tuple[int, int], pad_val: int, rects: list[Rect | None]
) -> NDArray[Any]:
    """Pad at the bottom/right to ``out_hw``; with ``pad_val == 0`` only the rectangles are
    copied into a zeroed (calloc'd) stack."""
    height, width = masks.shape[1:]
    if pad_val != 0:
        out = np.full((len(masks), int(out_hw[0]), int(out_hw[1])), pad_val, dtype=masks.dtype)
        out[:, :height, :width] = masks
        return out

    def fill(mask: NDArray[Any], rect: Rect, target: NDArray[Any]) -> Rect:
        x0, y0, x1, y1 = rect
        target[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        return rect

    return _fill_rects(masks, rects, out_hw, fill)[0]


# OpenCV's fixed-point warpAffine (AB_BITS = 10, INTER_BITS = 5): what mmcv's warp of a whole
# (H, W, n) mask stack computes for n outside _FLOAT_PATH_CHANNELS
_AB_BITS, _INTER_BITS = 10, 5
# channel counts that OpenCV 5's warpAffine sends through its float-coordinate path instead
_FLOAT_PATH_CHANNELS = (1, 3, 4)


def _fixed_point_maps(
    inverse: NDArray[Any], rect: Rect, nearest: bool
) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """``cv2.remap`` maps of the output pixels in ``rect`` holding the source positions that
    warpAffine's fixed-point path computes for them (``inverse``: the dst -> src matrix):
    per row ``X0 = rint((m01 * y + m02) * 2^10) + delta``, per column ``rint(m00 * x * 2^10)``,
    summed and shifted; the split into a row and a column term is OpenCV's, so a rectangle
    gets the same positions as the whole image."""
    x0, y0, x1, y1 = rect
    scale = float(1 << _AB_BITS)
    delta = (1 << (_AB_BITS - 1)) if nearest else (1 << (_AB_BITS - _INTER_BITS - 1))
    xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
    shift = _AB_BITS if nearest else _AB_BITS - _INTER_BITS
    coords = []
    for row in inverse:
        per_row = np.rint((row[1] * ys + row[2]) * scale).astype(np.int32) + delta
        per_col = np.rint(row[0] * xs * scale).astype(np.int32)
        coords.append(np.add.outer(per_row, per_col) >> shift)
    cx, cy = coords
    if nearest:
        return np.stack([cx, cy], axis=-1).astype(np.int16), None
    tab = (1 << _INTER_BITS) - 1
    fraction = ((cy & tab) << _INTER_BITS) | (cx & tab)
    return np.stack([cx >> _INTER_BITS, cy >> _INTER_BITS], axis=-1).astype(
        np.int16
    ), fraction.astype(np.uint16)


def warp_stack(
    masks: NDArray[Any], matrix: NDArray[Any], interpolation: str, rects: list[Rect | None]
) -> tuple[NDArray[Any], list[Rect | None]]:
    """Affine-warp with a zero border (same size), bit for bit as mmcv's one ``cv2.warpAffine``
    of the ``(H, W, N)`` stack. With ``N`` in (1, 3, 4) that one call is made; else each mask is
    remapped only over the output rectangle its own rectangle can reach (one pixel of margin
    for the bilinear taps), with the fixed-point source positions of the whole-stack call."""
    flag = _check_interpolation(interpolation)
    height, width = masks.shape[1:]
    if len(masks) in _FLOAT_PATH_CHANNELS:
        out = cv2.warpAffine(
            masks.transpose(1, 2, 0),
            matrix,
            (width, height),
            flags=flag,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        out = c_order(out.reshape(height, width, -1).transpose(2, 0, 1))
        return out, mask_rects(out)
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))

    def fill(mask: NDArray[Any], rect: Rect, target: NDArray[Any]) -> Rect | None:
        x, y, x_end, y_end = rect
        corners = np.array(
            [[x - 1, y - 1], [x_end, y - 1], [x - 1, y_end], [x_end, y_end]], dtype=np.float64
        )
        mapped = apply_matrix_to_points(corners, matrix)
        x0, y0 = (int(v) for v in np.maximum(np.floor(mapped.min(axis=0)) - 1, 0))
        x1, y1 = (int(v) for v in np.minimum(np.ceil(mapped.max(axis=0)) + 2, (width, height)))
        if x1 <= x0 or y1 <= y0:
            return None
        map1, map2 = _fixed_point_maps(inverse, (x0, y0, x1, y1), interpolation == "nearest")
        target[y0:y1, x0:x1] = cv2.remap(
            mask, map1, map2, flag, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        return (x0, y0, x1, y1)

    return _fill_rects(masks, rects, (height, width), fill)
