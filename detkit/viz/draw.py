"""Matplotlib drawing of instances: boxes (xyxy, absolute pixels), mask overlays, class names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import hsv_to_rgb
from matplotlib.patches import Rectangle

from detkit.structures.roi_masks import dense_mask_windows
from detkit.viz.raster import blend_mask_windows, display_copy

__all__ = ["annotate_axes", "make_palette", "draw_instances", "masks_as_array"]


def make_palette(num: int, seed: int = 3) -> np.ndarray:
    """``num`` distinct RGB colours in [0, 1], ``[num, 3]`` (golden-ratio hues)."""
    hues = (np.arange(max(num, 1)) * 0.618033988749895 + seed * 0.1) % 1.0
    hsv = np.stack([hues, np.full_like(hues, 0.75), np.full_like(hues, 0.95)], axis=1)
    return hsv_to_rgb(hsv)[:num]


def masks_as_array(masks: Any) -> np.ndarray | None:
    """``(N, H, W)`` uint8 array from ``BitmapMasks``/``PolygonMasks`` (``to_ndarray``), a
    tensor, an array or a list of ``(H, W)`` arrays; None stays None."""
    if masks is None:
        return None
    if hasattr(masks, "to_ndarray"):
        return np.asarray(masks.to_ndarray())
    if hasattr(masks, "detach"):
        return masks.detach().cpu().numpy()
    if isinstance(masks, (list, tuple)):
        return np.stack(masks) if len(masks) else None
    return np.asarray(masks)


def draw_instances(
    ax: Axes,
    img_rgb: np.ndarray,
    bboxes: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    masks: Any = None,
    scores: Sequence[float] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    palette: np.ndarray | None = None,
    mask_alpha: float = 0.45,
    title: str | None = None,
) -> Axes:
    """Draw an RGB image with its instances on ``ax``.

    Args:
        ax: matplotlib axes (its axis lines are hidden).
        img_rgb: ``(H, W, 3)`` uint8 RGB image (convert BGR with ``img[..., ::-1]``).
        bboxes: ``[N, 4]`` xyxy boxes in absolute pixels (width = x2 - x1).
        labels: ``[N]`` 0-based class indices (colour and name).
        masks: optional ``N`` masks (``BitmapMasks``, ``PolygonMasks``, ``(N, H, W)`` array
            or tensor) blended over the image with ``mask_alpha``, one at a time inside the
            bounding box of its pixels (a uint8 canvas; no float copy of the image).
        scores: optional ``[N]`` scores appended to the names.
        class_names: names indexed by label; default ``str(label)``.
        palette: ``[C, 3]`` RGB colours in [0, 1] indexed by label; default
            :func:`make_palette` over the classes.
    """
    boxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"draw_instances: {len(boxes)} boxes but {len(labels)} labels")
    num_classes = max(
        len(class_names) if class_names else 0, int(labels.max()) + 1 if len(labels) else 1
    )
    colors = palette if palette is not None else make_palette(num_classes)
    canvas = np.array(img_rgb, dtype=np.uint8)
    mask_array = masks_as_array(masks)
    if mask_array is not None and len(mask_array):
        if len(mask_array) != len(boxes):
            raise ValueError(f"draw_instances: {len(boxes)} boxes but {len(mask_array)} masks")
        blend_mask_windows(
            canvas, dense_mask_windows(mask_array), colors[labels % len(colors)], mask_alpha
        )
    return annotate_axes(ax, canvas, boxes, labels, scores, class_names, colors, title)


def annotate_axes(
    ax: Axes,
    canvas: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: Sequence[float] | np.ndarray | None,
    class_names: Sequence[str] | None,
    colors: np.ndarray,
    title: str | None = None,
) -> Axes:
    """Show ``canvas`` (HWC uint8, masks already blended; subsampled for display beyond
    ``MAX_DISPLAY_SIDE`` pixels, axes still in image pixels) with box patches and names."""
    height, width = canvas.shape[:2]
    ax.imshow(display_copy(canvas), extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    for i, ((x1, y1, x2, y2), label) in enumerate(zip(boxes, labels)):
        color = colors[label % len(colors)]
        ax.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.2)
        )
        name = class_names[label] if class_names and label < len(class_names) else str(int(label))
        if scores is not None:
            name = f"{name} {float(scores[i]):.2f}"
        ax.text(
            x1,
            y1,
            name,
            fontsize=6,
            color="white",
            va="bottom",
            bbox=dict(facecolor=color, alpha=0.8, pad=0.5, edgecolor="none"),
        )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return ax
