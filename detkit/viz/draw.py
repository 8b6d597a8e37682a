"""Instances on an image: boxes (xyxy, absolute pixels), mask overlays and class names drawn by
the one renderer (:mod:`detkit.viz.raster`) into a uint8 copy, which matplotlib then shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import hsv_to_rgb

from detkit.structures.roi_masks import dense_mask_windows
from detkit.viz.raster import display_copy, draw_instances_into

__all__ = [
    "draw_instances",
    "label_names",
    "make_palette",
    "masks_as_array",
    "render_instances",
    "show_image",
]

MASK_ALPHA = 0.45


def make_palette(num: int, seed: int = 3) -> np.ndarray:
    """``num`` distinct RGB colours in [0, 1], ``[num, 3]`` (golden-ratio hues)."""
    hues = (np.arange(max(num, 1)) * 0.618033988749895 + seed * 0.1) % 1.0
    hsv = np.stack([hues, np.full_like(hues, 0.75), np.full_like(hues, 0.95)], axis=1)
    return np.asarray(hsv_to_rgb(hsv)[:num])


def masks_as_array(masks: Any) -> np.ndarray | None:
    """``(N, H, W)`` uint8 array from ``BitmapMasks``/``PolygonMasks`` (``to_ndarray``), a
    tensor, an array or a list of ``(H, W)`` arrays; None stays None."""
    if masks is None:
        return None
    if hasattr(masks, "to_ndarray"):
        return np.asarray(masks.to_ndarray())
    if hasattr(masks, "detach"):
        return np.asarray(masks.detach().cpu().numpy())
    if isinstance(masks, (list, tuple)):
        return np.stack(masks) if len(masks) else None
    return np.asarray(masks)


def label_names(
    labels: np.ndarray,
    class_names: Sequence[str] | None,
    scores: Sequence[float] | np.ndarray | None = None,
) -> list[str]:
    """``'<class name> <score>'`` per label (the label index where there is no name)."""
    names = [
        class_names[label] if class_names and label < len(class_names) else str(int(label))
        for label in labels.tolist()
    ]
    if scores is None:
        return names
    return [f"{name} {float(score):.2f}" for name, score in zip(names, scores)]


def render_instances(
    img_rgb: np.ndarray,
    bboxes: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    masks: Any = None,
    scores: Sequence[float] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    palette: np.ndarray | None = None,
    mask_alpha: float = MASK_ALPHA,
    dashed: bool = False,
    text_color: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """A uint8 copy of ``img_rgb`` with its instances drawn (arguments of
    :func:`draw_instances`; ``dashed`` outlines the boxes with dashes, names are written in
    ``text_color`` on the box colour)."""
    boxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"draw_instances: {len(boxes)} boxes but {len(labels)} labels")
    num_classes = max(
        len(class_names) if class_names else 0, int(labels.max()) + 1 if len(labels) else 1
    )
    colors = palette if palette is not None else make_palette(num_classes)
    colors = colors[labels % len(colors)]
    mask_array = masks_as_array(masks)
    windows: Any = ()
    if mask_array is not None and len(mask_array):
        if len(mask_array) != len(boxes):
            raise ValueError(f"draw_instances: {len(boxes)} boxes but {len(mask_array)} masks")
        windows = dense_mask_windows(mask_array)
    canvas = np.array(img_rgb, dtype=np.uint8)
    names = label_names(labels, class_names, scores)
    return draw_instances_into(
        canvas, boxes, colors, names, windows, mask_alpha, dashed, text_color
    )


def show_image(ax: Axes, img: np.ndarray, title: str | None = None) -> Axes:
    """Show a drawing (HWC uint8; subsampled for display beyond ``MAX_DISPLAY_SIDE`` pixels,
    axes still in image pixels) without axis lines."""
    height, width = img.shape[:2]
    ax.imshow(display_copy(img), extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def draw_instances(
    ax: Axes,
    img_rgb: np.ndarray,
    bboxes: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    masks: Any = None,
    scores: Sequence[float] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    palette: np.ndarray | None = None,
    mask_alpha: float = MASK_ALPHA,
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
        title: shown above the image.
    """
    drawn = render_instances(
        img_rgb, bboxes, labels, masks, scores, class_names, palette, mask_alpha
    )
    return show_image(ax, drawn, title)
