"""Matplotlib figures the analysis tools save: an image with its ground truth, with its
detections, or both (stacked or overlaid), written at the image's size."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from detkit.viz import draw_instances

__all__ = ["save_panels"]


def save_panels(
    panels: Sequence[dict[str, Any]],
    img_rgb: np.ndarray,
    out_file: str | None,
    class_names: Sequence[str] | None,
    show: bool = False,
    wait_time: float = 0,
) -> np.ndarray:
    """Draw each panel (``draw_instances`` keyword arguments: ``bboxes``, ``labels``,
    optional ``masks``, ``scores``, ``title``; a list of such dicts draws the first with
    ``draw_instances`` and the others as dashed white boxes over it) on ``img_rgb`` ``(H, W, 3)``, stacked vertically; save to ``out_file`` (folders
    created), display it with ``show`` (blocking when ``wait_time`` is 0, else for
    ``wait_time`` seconds) and return the drawing ``(len(panels) * H, W, 3)`` uint8 RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = img_rgb.shape[:2]
    dpi = 100
    figure = Figure(figsize=(width / dpi, height * len(panels) / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    for row, panel in enumerate(panels):
        ax = figure.add_axes((0, 1 - (row + 1) / len(panels), 1, 1 / len(panels)))
        layers = panel if isinstance(panel, list) else [panel]
        first = dict(layers[0])
        title = first.pop("title", None)
        draw_instances(ax, img_rgb, class_names=class_names, **first)
        if title:  # inside the axes: the figure has no margins
            ax.text(
                0.5,
                0.98,
                title,
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=7,
                bbox=dict(facecolor="white", alpha=0.7, pad=1, edgecolor="none"),
            )
        for layer in layers[1:]:
            _draw_boxes_over(ax, layer, class_names)
    canvas.draw()
    drawn = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    if out_file:
        os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
        Image.fromarray(drawn).save(out_file)
    if show:
        import matplotlib.pyplot as plt

        plt.figure(figsize=(width / dpi, height * len(panels) / dpi), dpi=dpi)
        plt.imshow(drawn)
        plt.axis("off")
        if wait_time > 0:
            plt.pause(wait_time)
            plt.close()
        else:
            plt.show()
    return drawn


def _draw_boxes_over(ax: Any, layer: dict[str, Any], class_names: Sequence[str] | None) -> None:
    """Dashed boxes and names of ``layer`` on an axes that already shows the image."""
    from matplotlib.patches import Rectangle

    scores = layer.get("scores")
    for i, ((x1, y1, x2, y2), label) in enumerate(
        zip(np.asarray(layer["bboxes"]).reshape(-1, 4), np.asarray(layer["labels"]).reshape(-1))
    ):
        ax.add_patch(
            Rectangle(
                (x1, y1),
                x2 - x1,
                y2 - y1,
                fill=False,
                edgecolor="white",
                linestyle="--",
                linewidth=1.0,
            )
        )
        name = class_names[label] if class_names and label < len(class_names) else str(int(label))
        if scores is not None:
            name = f"{name} {float(scores[i]):.2f}"
        ax.text(
            x1,
            y2,
            name,
            fontsize=6,
            color="black",
            va="top",
            bbox=dict(facecolor="white", alpha=0.8, pad=0.5, edgecolor="none"),
        )
