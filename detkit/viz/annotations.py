"""Images with their COCO annotations: instances with masks and boxes (xyxy from COCO's
``[x, y, w, h]``), crowd regions as dashed grey boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from detkit.structures import xywh_to_xyxy
from detkit.viz.draw import render_instances, show_image

__all__ = ["AnnotatedImage", "plot_annotated_images", "render_annotations"]

_CROWD_PALETTE = np.full((1, 3), 0.85)


@dataclass
class AnnotatedImage:
    """One image and its COCO annotations.

    Attributes:
        img_rgb: ``(H, W, 3)`` uint8 RGB.
        anns: the COCO annotation dicts (``bbox`` ``[x, y, w, h]``, ``category_id``,
            ``iscrowd``).
        masks: one ``(H, W)`` uint8 mask per annotation.
        title: shown above the image.
    """

    img_rgb: np.ndarray
    anns: list[dict[str, Any]]
    masks: list[np.ndarray]
    title: str = ""


def _boxes(anns: Sequence[Mapping[str, Any]]) -> np.ndarray:
    xywh = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
    return np.asarray(xywh_to_xyxy(xywh))


def render_annotations(
    image: AnnotatedImage, label_of: Mapping[int, int], class_names: Sequence[str]
) -> np.ndarray:
    """A uint8 copy of the image with its instances and, dashed grey, its crowd regions."""
    plain = [i for i, a in enumerate(image.anns) if not a.get("iscrowd", 0)]
    crowd = [a for a in image.anns if a.get("iscrowd", 0)]
    drawn = render_instances(
        image.img_rgb,
        _boxes([image.anns[i] for i in plain]),
        [label_of[image.anns[i]["category_id"]] for i in plain],
        masks=[image.masks[i] for i in plain] or None,
        class_names=class_names,
    )
    crowd_names = [f"{class_names[label_of[a['category_id']]]} (crowd)" for a in crowd]
    return render_instances(
        drawn,
        _boxes(crowd),
        np.arange(len(crowd)),
        class_names=crowd_names,
        palette=_CROWD_PALETTE,
        dashed=True,
        text_color=(38, 38, 38),
    )


def plot_annotated_images(
    images: Sequence[AnnotatedImage],
    label_of: Mapping[int, int],
    class_names: Sequence[str],
    cols: int = 2,
) -> Figure:
    """A grid of the images drawn by :func:`render_annotations` (``label_of``: COCO category
    id -> label index of ``class_names``)."""
    import matplotlib.pyplot as plt

    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, image in zip(axes.ravel(), images):
        show_image(ax, render_annotations(image, label_of, class_names), image.title)
    fig.tight_layout()
    return fig
