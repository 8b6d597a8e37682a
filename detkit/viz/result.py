"""Drawing a detector's output: the one path behind ``detkit.show_result``, ``tools/infer.py``,
``tools/test.py --show-dir`` and the notebooks.

Results are :class:`~detkit.structures.results.DetectionResult` (boxes xyxy in the image's
pixels); an MMDetection v2 per-class result is converted once with
``DetectionResult.from_mmdet``.

Drawing is on a uint8 copy of the image: masks are blended one at a time inside their
windows (``DetectionResult.iter_mask_windows``), boxes and names are drawn into the array
(:mod:`detkit.viz.raster`), and matplotlib only shows a copy of at most
``MAX_DISPLAY_SIDE`` pixels. Memory: the decoded image (drawn in place by ``show_result``),
one mask window and row bands of bounded size.
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from PIL import Image

from detkit.image_io import read_image
from detkit.structures.results import DetectionResult
from detkit.viz.draw import annotate_axes, make_palette
from detkit.viz.raster import blend_mask_windows, display_copy, render_instances

__all__ = ["as_detection_result", "draw_result", "read_rgb", "render_result", "show_result"]

MASK_ALPHA = 0.45


def as_detection_result(result: Any) -> DetectionResult:
    """``result`` itself when typed, else ``DetectionResult.from_mmdet(result)``."""
    return result if isinstance(result, DetectionResult) else DetectionResult.from_mmdet(result)


def read_rgb(img: str | os.PathLike | np.ndarray) -> np.ndarray:
    """HWC uint8 RGB of an image path, or of a HWC uint8 **BGR** array."""
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image array must be HWC with 3 channels (BGR), got {img.shape}")
        return np.ascontiguousarray(img[:, :, ::-1])
    return read_image(os.fspath(img), channel_order="rgb")


def _kept(
    result: DetectionResult, class_names: Sequence[str] | None, score_thr: float
) -> tuple[DetectionResult, np.ndarray]:
    """The detections scoring ≥ ``score_thr`` on the CPU and the palette of their classes."""
    kept = result[result.scores >= score_thr].to("cpu")
    labels = kept.labels.numpy()
    num_classes = max(
        len(class_names) if class_names else 0, int(labels.max()) + 1 if len(labels) else 1
    )
    return kept, make_palette(num_classes)


def _names(kept: DetectionResult, class_names: Sequence[str] | None) -> list[str]:
    return [
        f"{class_names[label] if class_names and label < len(class_names) else label} {score:.2f}"
        for label, score in zip(kept.labels.tolist(), kept.scores.tolist())
    ]


def draw_result(
    ax: Axes,
    img_rgb: np.ndarray,
    result: DetectionResult,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
) -> Axes:
    """Draw the detections scoring ≥ ``score_thr`` (mask overlays blended into a uint8 copy of
    ``img_rgb``, HWC RGB; box patches and class + score names) into ``ax``, in the result's
    row order."""
    kept, palette = _kept(result, class_names, score_thr)
    labels = kept.labels.numpy()
    canvas = np.array(img_rgb, dtype=np.uint8)
    blend_mask_windows(canvas, kept.iter_mask_windows(), palette[labels], MASK_ALPHA)
    return annotate_axes(
        ax,
        canvas,
        kept.boxes.numpy().astype(np.float64),
        labels,
        kept.scores.numpy(),
        class_names,
        palette,
    )


def _render_in_place(
    canvas: np.ndarray, result: DetectionResult, class_names: Sequence[str] | None, score_thr: float
) -> np.ndarray:
    kept, palette = _kept(result, class_names, score_thr)
    colors = palette[kept.labels.numpy()]
    names = _names(kept, class_names)
    return render_instances(
        canvas, kept.boxes.numpy(), names, colors, kept.iter_mask_windows(), mask_alpha=MASK_ALPHA
    )


def _show_on(ax: Axes, drawn: np.ndarray) -> None:
    height, width = drawn.shape[:2]
    ax.imshow(display_copy(drawn), extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    ax.set_axis_off()


def render_result(
    img_rgb: np.ndarray,
    result: DetectionResult,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
    ax: Axes | None = None,
) -> np.ndarray:
    """The drawing as an HWC uint8 RGB array at the image's size (also shown in ``ax``):
    masks blended, box outlines and class + score labels drawn into a copy of ``img_rgb``."""
    drawn = _render_in_place(np.array(img_rgb, dtype=np.uint8), result, class_names, score_thr)
    if ax is not None:
        _show_on(ax, drawn)
    return drawn


def show_result(
    img: str | os.PathLike | np.ndarray,
    result: Any,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
    out_file: str | None = None,
    show: bool = False,
    ax: Axes | None = None,
) -> np.ndarray:
    """Draw a result on its image (boxes, mask overlays, class + score).

    Args:
        img: image path or HWC uint8 BGR array.
        result: a ``DetectionResult`` or the MMDetection result of the image (masks as
            arrays, RLE or the ``MaskList`` of ``to_mmdet``).
        class_names: name per label (default: label indices).
        score_thr: detections scoring below it are not drawn.
        out_file: save the drawing there (folders created).
        show: display the figure (``plt.show``; at most 16 inches, ``MAX_DISPLAY_SIDE`` pixels).
        ax: also show the drawing in this matplotlib Axes.

    Returns:
        The drawing as an HWC uint8 RGB array at the image's size.
    """
    image = np.require(read_rgb(img), np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])
    drawn = _render_in_place(image, as_detection_result(result), class_names, score_thr)
    if ax is not None:
        _show_on(ax, drawn)
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        Image.fromarray(drawn).save(out_file)
    if show:
        import matplotlib.pyplot as plt

        height, width = drawn.shape[:2]
        scale = min(1.0, 16 / (max(height, width) / 100))
        plt.figure(figsize=(width / 100 * scale, height / 100 * scale), dpi=100)
        _show_on(plt.gca(), drawn)
        plt.show()
    return drawn
