"""The drawings the analysis tools save: an image with its ground truth, with its detections, or
both (stacked, or the detections dashed over the ground truth), at the image's size."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from detkit.viz.draw import render_instances
from detkit.viz.raster import draw_title

__all__ = ["save_panels"]

# overlaid layers: dashed white boxes with black names
_OVERLAY_PALETTE = np.ones((1, 3))


def _render_panel(
    panel: dict[str, Any] | list[dict[str, Any]],
    img_rgb: np.ndarray,
    class_names: Sequence[str] | None,
) -> np.ndarray:
    layers = panel if isinstance(panel, list) else [panel]
    first = dict(layers[0])
    title = first.pop("title", None)
    drawn = render_instances(img_rgb, class_names=class_names, **first)
    for layer in layers[1:]:
        drawn = render_instances(
            drawn,
            layer["bboxes"],
            np.zeros(len(np.asarray(layer["labels"]).reshape(-1)), np.int64),
            scores=layer.get("scores"),
            class_names=[
                class_names[int(label)]
                if class_names and int(label) < len(class_names)
                else str(int(label))
                for label in np.asarray(layer["labels"]).reshape(-1)
            ],
            palette=_OVERLAY_PALETTE,
            dashed=True,
            text_color=(0, 0, 0),
        )
    if title:
        draw_title(drawn, title)
    return drawn


def save_panels(
    panels: Sequence[dict[str, Any] | list[dict[str, Any]]],
    img_rgb: np.ndarray,
    out_file: str | None,
    class_names: Sequence[str] | None,
    show: bool = False,
    wait_time: float = 0,
) -> np.ndarray:
    """Draw each panel on ``img_rgb`` ``(H, W, 3)`` and stack them vertically.

    A panel is :func:`~detkit.viz.draw.render_instances` keyword arguments (``bboxes``,
    ``labels``, optional ``masks``, ``scores``, ``title``), or a list of them: the first drawn
    as usual, the others as dashed white boxes over it. The drawing is saved to ``out_file``
    (folders created), displayed with ``show`` (blocking when ``wait_time`` is 0, else for
    ``wait_time`` seconds) and returned: ``(len(panels) * H, W, 3)`` uint8 RGB.
    """
    drawn = np.concatenate([_render_panel(p, img_rgb, class_names) for p in panels], axis=0)
    if out_file:
        os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
        Image.fromarray(drawn).save(out_file)
    if show:
        import matplotlib.pyplot as plt

        from detkit.viz.draw import show_image

        height, width = drawn.shape[:2]
        plt.figure(figsize=(width / 100, height / 100), dpi=100)
        show_image(plt.gca(), drawn)
        if wait_time > 0:
            plt.pause(wait_time)
            plt.close()
        else:
            plt.show()
    return drawn
