"""The one renderer: instances drawn straight into a uint8 image — masks blended one at a time
inside their windows, box outlines (solid or dashed), class + score labels and titles (PIL
text). Memory is the image itself plus one mask window at a time, so a 10000×10000 result
draws in the size of its image. Matplotlib only ever shows the finished array."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "blend_mask_windows",
    "display_copy",
    "draw_boxes",
    "draw_instances_into",
    "draw_labels",
    "draw_title",
    "style_for",
]

# the longest side shown by matplotlib (larger drawings are subsampled for display only)
MAX_DISPLAY_SIDE = 2048
# window pixels blended at once (float32 temporaries of 12 bytes each)
BLEND_BAND_PIXELS = 1 << 18


def blend_mask_windows(
    canvas: np.ndarray,
    windows: Iterable[tuple[int, int, np.ndarray]],
    colors: np.ndarray,
    alpha: float,
) -> int:
    """Blend each mask into ``canvas`` (HWC uint8 RGB, in place), in order:
    ``pixel = round(pixel * (1 - alpha) + 255 * color * alpha)`` where the mask is set.

    Args:
        canvas: ``(H, W, 3)`` uint8, modified in place.
        windows: ``(x0, y0, window)`` per mask, ``window`` a bool ``[h, w]`` array placed at
            ``(x0, y0)`` (parts outside the canvas are ignored).
        colors: ``[N, 3]`` RGB in [0, 1], one per mask.
        alpha: the mask's opacity.

    Returns:
        The number of masks blended.
    """
    height, width = canvas.shape[:2]
    count = 0
    for (x0, y0, window), color in zip(windows, colors):
        count += 1
        window = np.asarray(window, dtype=bool)[: max(height - y0, 0), : max(width - x0, 0)]
        tint = np.asarray(color, np.float32) * (255 * alpha)
        rows_per_band = max(1, BLEND_BAND_PIXELS // max(window.shape[1], 1))
        for top in range(0, window.shape[0], rows_per_band):
            band = window[top : top + rows_per_band]
            region = canvas[y0 + top : y0 + top + band.shape[0], x0 : x0 + band.shape[1]]
            pixels = region[band].astype(np.float32)
            region[band] = np.clip(np.rint(pixels * (1 - alpha) + tint), 0, 255).astype(np.uint8)
    return count


def style_for(height: int, width: int) -> tuple[int, int]:
    """``(line width, font size)`` in pixels for a drawing of ``height × width``."""
    side = max(height, width)
    return max(1, round(side / 600)), max(9, round(side / 110))


def _dashes(length: int, line_width: int) -> np.ndarray:
    """Bool ``[length]``: on for ``4 * line_width`` pixels, off for ``3 * line_width``."""
    period = np.arange(length) % (7 * line_width)
    return period < 4 * line_width


def draw_boxes(
    canvas: np.ndarray,
    boxes: np.ndarray,
    colors: np.ndarray,
    line_width: int,
    dashed: bool = False,
) -> None:
    """Outline each xyxy box (absolute pixels) of ``boxes`` ``[N, 4]`` in ``canvas`` (HWC
    uint8, in place) with its ``colors`` row (RGB in [0, 1]), ``line_width`` pixels inside;
    ``dashed`` draws every side as dashes (crowd regions, overlaid ground truth)."""
    height, width = canvas.shape[:2]
    for (x1, y1, x2, y2), color in zip(np.asarray(boxes, np.float64).reshape(-1, 4), colors):
        left, top = int(np.clip(np.floor(x1), 0, width)), int(np.clip(np.floor(y1), 0, height))
        right, bottom = int(np.clip(np.ceil(x2), 0, width)), int(np.clip(np.ceil(y2), 0, height))
        if right <= left or bottom <= top:
            continue
        rgb = np.rint(np.asarray(color) * 255).astype(np.uint8)
        lw = line_width
        across = _dashes(right - left, lw) if dashed else slice(None)
        down = _dashes(bottom - top, lw) if dashed else slice(None)
        canvas[top : min(top + lw, bottom), left:right][:, across] = rgb
        canvas[max(bottom - lw, top) : bottom, left:right][:, across] = rgb
        canvas[top:bottom, left : min(left + lw, right)][down] = rgb
        canvas[top:bottom, max(right - lw, left) : right][down] = rgb


@lru_cache(maxsize=8)
def _font(size: int) -> Any:
    return ImageFont.load_default(size=size)


def _label_patch(name: str, color: Any, font_size: int, text_color: tuple[int, int, int]) -> Any:
    font = _font(font_size)
    pad = max(1, font_size // 6)
    left, top, right, bottom = font.getbbox(name)
    label = Image.new(
        "RGB",
        (right - left + 2 * pad, bottom - top + 2 * pad),
        tuple(int(v) for v in np.rint(np.asarray(color) * 255)),
    )
    ImageDraw.Draw(label).text((pad - left, pad - top), name, fill=text_color, font=font)
    return np.asarray(label)


def draw_labels(
    canvas: np.ndarray,
    boxes: np.ndarray,
    names: Sequence[str],
    colors: np.ndarray,
    font_size: int,
    text_color: tuple[int, int, int] = (255, 255, 255),
) -> None:
    """Write each name in ``text_color`` on its colour just above its box's top-left corner
    (inside the box when there is no room above), in ``canvas`` (HWC uint8, in place)."""
    height, width = canvas.shape[:2]
    for (x1, y1, _, _), name, color in zip(
        np.asarray(boxes, np.float64).reshape(-1, 4), names, colors
    ):
        patch = _label_patch(name, color, font_size, text_color)
        x0 = int(np.clip(np.floor(x1), 0, max(width - 1, 0)))
        y0 = int(np.floor(y1)) - patch.shape[0]
        y0 = int(np.clip(y0 if y0 >= 0 else np.floor(y1), 0, max(height - 1, 0)))
        patch = patch[: height - y0, : width - x0]
        canvas[y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]] = patch


def draw_title(canvas: np.ndarray, title: str) -> None:
    """Write ``title`` in black on a light box at the top centre of ``canvas`` (in place)."""
    height, width = canvas.shape[:2]
    patch = _label_patch(title, (0.95, 0.95, 0.95), style_for(height, width)[1], (0, 0, 0))
    patch = patch[:height, :width]
    x0 = max(0, (width - patch.shape[1]) // 2)
    canvas[: patch.shape[0], x0 : x0 + patch.shape[1]] = patch


def draw_instances_into(
    canvas: np.ndarray,
    boxes: np.ndarray,
    colors: np.ndarray,
    names: Sequence[str],
    windows: Iterable[tuple[int, int, np.ndarray]] = (),
    mask_alpha: float = 0.45,
    dashed: bool = False,
    text_color: tuple[int, int, int] = (255, 255, 255),
    mask_colors: np.ndarray | None = None,
) -> np.ndarray:
    """Draw instances into ``canvas`` (HWC uint8 RGB, in place; returned): the mask
    ``windows`` blended with ``mask_alpha`` in their ``mask_colors`` rows (default ``colors``),
    then box outlines and names, each in its ``colors`` row (RGB in [0, 1]); line width and
    font size follow the image size. The one instance renderer behind every drawing."""
    blend_mask_windows(canvas, windows, colors if mask_colors is None else mask_colors, mask_alpha)
    line_width, font_size = style_for(*canvas.shape[:2])
    draw_boxes(canvas, boxes, colors, line_width, dashed)
    draw_labels(canvas, boxes, names, colors, font_size, text_color)
    return canvas


def display_copy(img: np.ndarray, max_side: int = MAX_DISPLAY_SIDE) -> np.ndarray:
    """``img`` subsampled by a whole stride so that its longest side is at most ``max_side``
    (a view when no subsampling is needed); for showing with matplotlib."""
    stride = max(1, -(-max(img.shape[:2]) // max_side))
    return img[::stride, ::stride] if stride > 1 else img
