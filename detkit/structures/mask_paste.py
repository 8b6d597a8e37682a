"""Paste ``[N, 1, m, m]`` RoI mask probabilities into image-sized canvases, vectorised.

Matches MMDetection v2's ``_do_paste_mask``: each canvas pixel centre ``(x + 0.5, y + 0.5)``
is mapped into the box's normalised frame and the mask is sampled bilinearly
(``grid_sample``, ``align_corners=False``, zeros outside). With ``skip_empty`` (mmdet's CPU
path) a mask only covers its box's window ``[floor(x1) - 1, ceil(x2) + 1)`` (clamped to the
canvas) and is zero elsewhere; here all windows of a chunk are sampled in one call on a
common window size, then cut back to each box's own window.

:func:`paste_mask_window` samples one mask on its window only (in row bands of bounded size):
the same values as the canvas of :func:`paste_masks_in_image`, without an image-sized
allocation. :func:`mask_windows` gives the windows (with ``skip_empty=False`` the window holds
every pixel the bilinear sample can make non-zero, so the rest of the canvas is zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["mask_windows", "paste_mask_window", "paste_masks_in_image"]

# bytes of float32 sampling grid + output allowed per chunk
_CHUNK_BYTES = 256 * 1024 * 1024
# bytes per window pixel of _paste_chunk's float32 grid (x, y), sample and mask
_BYTES_PER_PIXEL = 4 * 4


def _paste_chunk(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    x0: torch.Tensor,
    y0: torch.Tensor,
    x1: torch.Tensor,
    y1: torch.Tensor,
    win_h: int,
    win_w: int,
) -> torch.Tensor:
    """Sample ``masks`` ``[n, 1, m, m]`` on windows ``[y0, y0 + win_h) × [x0, x0 + win_w)``
    (int64 ``[n]`` origins); pixels at or beyond ``(x1, y1)`` are zeroed."""
    device = masks.device
    n = masks.size(0)
    bx0, by0, bx1, by1 = torch.split(boxes.float(), 1, dim=1)
    cols = x0[:, None] + torch.arange(win_w, device=device)[None, :]
    rows = y0[:, None] + torch.arange(win_h, device=device)[None, :]
    img_x = ((cols.to(torch.float32) + 0.5) - bx0) / (bx1 - bx0) * 2 - 1
    img_y = ((rows.to(torch.float32) + 0.5) - by0) / (by1 - by0) * 2 - 1
    img_x = torch.where(torch.isinf(img_x), torch.zeros_like(img_x), img_x)
    img_y = torch.where(torch.isinf(img_y), torch.zeros_like(img_y), img_y)
    gx = img_x[:, None, :].expand(n, win_h, win_w)
    gy = img_y[:, :, None].expand(n, win_h, win_w)
    sampled = F.grid_sample(
        masks.to(torch.float32), torch.stack([gx, gy], dim=3), align_corners=False
    )[:, 0]
    inside = (cols < x1[:, None])[:, None, :] & (rows < y1[:, None])[:, :, None]
    return sampled * inside


def _skip_empty_windows(
    boxes: torch.Tensor, img_h: int, img_w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mmdet's CPU windows ``[floor(x1) - 1, ceil(x2) + 1)`` clamped to the canvas."""
    x0 = torch.clamp(boxes[:, 0].floor() - 1, min=0).long()
    y0 = torch.clamp(boxes[:, 1].floor() - 1, min=0).long()
    x1 = torch.clamp(boxes[:, 2].ceil() + 1, max=img_w).long()
    y1 = torch.clamp(boxes[:, 3].ceil() + 1, max=img_h).long()
    return x0, y0, torch.maximum(x1, x0), torch.maximum(y1, y0)


def mask_windows(
    boxes: torch.Tensor, img_h: int, img_w: int, mask_size: int, skip_empty: bool
) -> torch.Tensor:
    """int64 ``[N, 4]`` windows ``(x0, y0, x1, y1)`` (canvas pixels, end exclusive, clamped
    to the canvas) outside which the pasted masks of ``boxes`` (xyxy) are zero.

    With ``skip_empty`` these are mmdet's windows. Without it the bilinear sample of an
    ``m × m`` mask is non-zero at most half a mask cell beyond the box, so the box is widened
    by a whole cell plus 2 pixels; a box of zero width (height) spans the whole canvas width
    (height), as the paste maps it to the mask's centre column (row).
    """
    boxes = boxes.float()
    if skip_empty:
        return torch.stack(_skip_empty_windows(boxes, img_h, img_w), dim=1)
    lo = torch.minimum(boxes[:, :2], boxes[:, 2:])
    hi = torch.maximum(boxes[:, :2], boxes[:, 2:])
    margin = (hi - lo) / max(mask_size, 1) + 2
    start = (lo - margin).floor()
    end = (hi + margin).ceil()
    flat = hi == lo
    start = torch.where(flat, torch.zeros_like(start), start)
    limits = torch.tensor([img_w, img_h], dtype=start.dtype, device=start.device)
    end = torch.where(flat, limits.expand_as(end), end)
    start = torch.minimum(torch.clamp(start, min=0), limits)
    end = torch.maximum(torch.minimum(end, limits), start)
    return torch.cat([start, end], dim=1).long()


def paste_mask_window(
    mask: torch.Tensor,
    box: torch.Tensor,
    window: torch.Tensor,
    threshold: float,
    band_bytes: int = 64 * 1024 * 1024,
) -> torch.Tensor:
    """One mask ``[1, m, m]`` (probabilities) sampled on ``window`` ``(x0, y0, x1, y1)``
    (int64 ``[4]``, from :func:`mask_windows`) for ``box`` (xyxy ``[4]``, canvas pixels).

    Returns bool (or uint8 0–255 when ``threshold < 0``) ``[y1 - y0, x1 - x0]``: the values of
    :func:`paste_masks_in_image`'s canvas there. Sampled in row bands of at most
    ``band_bytes`` of float32 temporaries.
    """
    x0, y0, x1, y1 = (int(v) for v in window.tolist())
    height, width = y1 - y0, x1 - x0
    out_dtype = torch.bool if threshold >= 0 else torch.uint8
    out = torch.zeros(height, width, dtype=out_dtype, device=mask.device)
    if height == 0 or width == 0:
        return out
    rows_per_band = max(1, band_bytes // (width * _BYTES_PER_PIXEL))
    masks, boxes = mask[None], box.float().reshape(1, 4)
    col0 = torch.tensor([x0], device=mask.device)
    col1 = torch.tensor([x1], device=mask.device)
    for top in range(y0, y1, rows_per_band):
        rows = min(rows_per_band, y1 - top)
        probs = _paste_chunk(
            masks,
            boxes,
            col0,
            torch.tensor([top], device=mask.device),
            col1,
            torch.tensor([y1], device=mask.device),
            rows,
            width,
        )[0]
        out[top - y0 : top - y0 + rows] = (
            probs >= threshold if threshold >= 0 else (probs * 255).to(torch.uint8)
        )
    return out


def paste_masks_in_image(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    img_h: int,
    img_w: int,
    threshold: float,
    skip_empty: bool,
) -> torch.Tensor:
    """Paste RoI masks into ``[N, img_h, img_w]`` canvases.

    Args:
        masks: ``[N, 1, m, m]`` probabilities.
        boxes: ``[N, 4]`` xyxy in canvas pixels.
        img_h, img_w: canvas size.
        threshold: ``>= threshold`` gives a bool mask; a negative value gives uint8 0–255.
        skip_empty: restrict each mask to its box's window (mmdet's CPU behaviour).

    Returns:
        bool (or uint8) ``[N, img_h, img_w]`` on ``masks.device``.
    """
    n = masks.size(0)
    device = masks.device
    out_dtype = torch.bool if threshold >= 0 else torch.uint8
    canvas = torch.zeros(n, img_h, img_w, dtype=out_dtype, device=device)
    if n == 0:
        return canvas
    boxes_f = boxes.float()
    if skip_empty:
        x0, y0, x1, y1 = _skip_empty_windows(boxes_f, img_h, img_w)
    else:
        x0 = y0 = torch.zeros(n, dtype=torch.long, device=device)
        x1 = torch.full((n,), img_w, dtype=torch.long, device=device)
        y1 = torch.full((n,), img_h, dtype=torch.long, device=device)
    heights, widths = (y1 - y0).cpu(), (x1 - x0).cpu()
    order = torch.argsort(heights * widths, descending=True)
    hs, ws = heights[order].tolist(), widths[order].tolist()
    start = 0
    while start < n:
        # a chunk shares its largest height and width: grow it while that common window
        # wastes at most 2x its masks' own windows (one wide and one tall box would otherwise
        # make every mask of the chunk sample their union) and fits the memory budget
        end, win_h, win_w, own = start, 0, 0, 0
        while end < n:
            grown_h, grown_w = max(win_h, hs[end]), max(win_w, ws[end])
            cells = grown_h * grown_w * (end - start + 1)
            grown_own = own + hs[end] * ws[end]
            if end > start and (cells * _BYTES_PER_PIXEL > _CHUNK_BYTES or cells > 2 * grown_own):
                break
            win_h, win_w, own = grown_h, grown_w, grown_own
            end += 1
        inds = order[start:end].to(device)
        start = end
        if win_h == 0 or win_w == 0:
            continue
        probs = _paste_chunk(
            masks[inds], boxes_f[inds], x0[inds], y0[inds], x1[inds], y1[inds], win_h, win_w
        )
        values = probs >= threshold if threshold >= 0 else (probs * 255).to(torch.uint8)
        if not skip_empty:  # every window is the whole canvas
            canvas[inds] = values
            continue
        # scatter each window into the canvas (windows are clipped to the canvas by x1/y1)
        rows = y0[inds, None] + torch.arange(win_h, device=device)[None, :]
        cols = x0[inds, None] + torch.arange(win_w, device=device)[None, :]
        rows_ok = rows < y1[inds, None]
        cols_ok = cols < x1[inds, None]
        sel = rows_ok[:, :, None] & cols_ok[:, None, :]
        k, r, c = torch.nonzero(sel, as_tuple=True)
        canvas[inds[k], rows[k, r], cols[k, c]] = values[k, r, c]
    return canvas
