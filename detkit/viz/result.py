"""Drawing a detector's output: the one path behind ``detkit.show_result``, ``tools/infer.py``,
``tools/test.py --show-dir`` and the notebooks.

Results are :class:`~detkit.structures.results.DetectionResult` (boxes xyxy in the image's
pixels); an MMDetection v2 per-class result is converted once with
``DetectionResult.from_mmdet``.
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
from detkit.viz.draw import draw_instances

__all__ = ["as_detection_result", "draw_result", "read_rgb", "render_result", "show_result"]


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


def draw_result(ax: Axes, img_rgb: np.ndarray, result: DetectionResult,
                class_names: Sequence[str] | None = None, score_thr: float = 0.3) -> Axes:
    """Draw the detections scoring ≥ ``score_thr`` (boxes, class + score, mask overlays) on
    ``img_rgb`` (HWC uint8 RGB) into ``ax``, in the result's row order."""
    kept = result[result.scores >= score_thr].to("cpu")
    masks = None if kept.masks is None else kept.masks.numpy()
    return draw_instances(ax, img_rgb, kept.boxes.numpy(), kept.labels.numpy(), masks=masks,
                          scores=kept.scores.numpy(), class_names=class_names)


def render_result(img_rgb: np.ndarray, result: DetectionResult, class_names: Sequence[str] | None = None,
                  score_thr: float = 0.3, ax: Axes | None = None) -> np.ndarray:
    """The drawing as an HWC uint8 RGB array at the image's size (also drawn into ``ax``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = img_rgb.shape[:2]
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    target = figure.add_axes((0, 0, 1, 1))
    for axes in (target, ax) if ax is not None else (target,):
        draw_result(axes, img_rgb, result, class_names, score_thr)
        axes.set_axis_off()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def show_result(
    img: str | os.PathLike | np.ndarray,
    result: Any,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
    out_file: str | None = None,
    show: bool = False,
    ax: Axes | None = None,
) -> np.ndarray:
    """Draw a result on its image with matplotlib (boxes, mask overlays, class + score).

    Args:
        img: image path or HWC uint8 BGR array.
        result: a ``DetectionResult`` or the MMDetection result of the image (masks as
            arrays or RLE).
        class_names: name per label (default: label indices).
        score_thr: detections scoring below it are not drawn.
        out_file: save the drawing there (folders created).
        show: display the figure (``plt.show``).
        ax: draw into this matplotlib Axes instead of a new figure.

    Returns:
        The drawing as an HWC uint8 RGB array at the image's size.
    """
    image = read_rgb(img)
    drawn = render_result(image, as_detection_result(result), class_names, score_thr, ax)
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        Image.fromarray(drawn).save(out_file)
    if show:
        import matplotlib.pyplot as plt

        height, width = image.shape[:2]
        plt.figure(figsize=(width / 100, height / 100), dpi=100)
        plt.imshow(drawn)
        plt.axis("off")
        plt.show()
    return drawn
