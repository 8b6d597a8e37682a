"""Paste ``[N, 1, m, m]`` RoI mask probabilities into image-sized canvases, vectorised.

Matches MMDetection v2's ``_do_paste_mask``: each canvas pixel centre ``(x + 0.5, y + 0.5)``
is mapped into the box's normalised frame and the mask is sampled bilinearly
(``grid_sample``, ``align_corners=False``, zeros outside). With ``skip_empty`` (mmdet's CPU
path) a mask only covers its box's window ``[floor(x1) - 1, ceil(x2) + 1)`` (clamped to the
canvas) and is zero elsewhere; here all windows of a chunk are sampled in one call on a
common window size, then cut back to each box's own window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["paste_masks_in_image"]

# bytes of float32 sampling grid + output allowed per chunk
_CHUNK_BYTES = 256 * 1024 * 1024


def _paste_chunk(masks: torch.Tensor, boxes: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor,
                 x1: torch.Tensor, y1: torch.Tensor, win_h: int, win_w: int
                 ) -> torch.Tensor:
    """Sample ``masks`` ``[n, 1, m, m]`` on windows ``[y0, y0 + win_h) × [x0, x0 + win_w)``
    (int64 ``[n]`` origins); pixels at or beyond ``(x1, y1)`` are zeroed."""
    device = masks.device
    n = masks.size(0)
    bx0, by0, bx1, by1 = boxes.float().split(1, dim=1)
    cols = x0[:, None] + torch.arange(win_w, device=device)[None, :]
    rows = y0[:, None] + torch.arange(win_h, device=device)[None, :]
    img_x = ((cols.to(torch.float32) + 0.5) - bx0) / (bx1 - bx0) * 2 - 1
    img_y = ((rows.to(torch.float32) + 0.5) - by0) / (by1 - by0) * 2 - 1
    img_x = torch.where(torch.isinf(img_x), torch.zeros_like(img_x), img_x)
    img_y = torch.where(torch.isinf(img_y), torch.zeros_like(img_y), img_y)
    gx = img_x[:, None, :].expand(n, win_h, win_w)
    gy = img_y[:, :, None].expand(n, win_h, win_w)
    sampled = F.grid_sample(masks.to(torch.float32), torch.stack([gx, gy], dim=3),
                            align_corners=False)[:, 0]
    inside = (cols < x1[:, None])[:, None, :] & (rows < y1[:, None])[:, :, None]
    return sampled * inside


def paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, img_h: int, img_w: int,
                         threshold: float, skip_empty: bool) -> torch.Tensor:
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
        x0 = torch.clamp(boxes_f[:, 0].floor() - 1, min=0).long()
        y0 = torch.clamp(boxes_f[:, 1].floor() - 1, min=0).long()
        x1 = torch.clamp(boxes_f[:, 2].ceil() + 1, max=img_w).long()
        y1 = torch.clamp(boxes_f[:, 3].ceil() + 1, max=img_h).long()
        x1, y1 = torch.maximum(x1, x0), torch.maximum(y1, y0)
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
            if end > start and (cells * 16 > _CHUNK_BYTES or cells > 2 * grown_own):
                break
            win_h, win_w, own = grown_h, grown_w, grown_own
            end += 1
        inds = order[start:end].to(device)
        start = end
        if win_h == 0 or win_w == 0:
            continue
        probs = _paste_chunk(masks[inds], boxes_f[inds], x0[inds], y0[inds], x1[inds], y1[inds],
                             win_h, win_w)
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
