"""Statistics and pictures of a COCO-format annotation file (used by notebook 01).

``coco_stats`` counts instances per class, crowd regions, images without instances and the
instance sizes (``sqrt(area)`` in pixels); ``plot_annotation_stats`` draws the class
histogram and the size distribution; ``show_annotated_images`` draws images with their
masks and boxes (xyxy from the COCO ``[x, y, w, h]``) drawn by :func:`detkit.viz.draw_instances`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from detkit.data.datasets.coco import load_coco
from detkit.data.transforms.loading import read_image
from detkit.structures import xywh_to_xyxy
from detkit.viz.draw import draw_instances, make_palette

__all__ = ["AnnotationStats", "coco_stats", "plot_annotation_stats", "show_annotated_images"]

# COCO-style size buckets on sqrt(area): small < 32, medium < 96, large otherwise
SIZE_EDGES = (32, 96)


@dataclass
class AnnotationStats:
    """Counts of one COCO annotation file.

    Attributes:
        ann_file: the file.
        images: number of images.
        images_without_instances: images with no non-crowd annotation.
        instances_per_class: non-crowd instances per category name (file order).
        crowd: number of crowd annotations.
        sizes: ``sqrt(area)`` of every non-crowd instance, in pixels.
        size_labels: category name of each entry of ``sizes``.
    """

    ann_file: str
    images: int
    images_without_instances: int
    instances_per_class: dict[str, int]
    crowd: int
    sizes: np.ndarray
    size_labels: list[str] = field(default_factory=list)

    def size_buckets(self) -> dict[str, int]:
        small, medium = SIZE_EDGES
        return {
            "small (<32)": int((self.sizes < small).sum()),
            "medium": int(((self.sizes >= small) & (self.sizes < medium)).sum()),
            "large (>=96)": int((self.sizes >= medium).sum()),
        }

    def __str__(self) -> str:
        total = sum(self.instances_per_class.values())
        classes = ", ".join(f"{k} {v}" for k, v in self.instances_per_class.items())
        return (
            f"{os.path.basename(self.ann_file)}: {self.images} images ({self.images_without_instances} without "
            f"instances), {total} instances ({classes}), {self.crowd} crowd; sizes {self.size_buckets()}"
        )


def coco_stats(ann_file: str | os.PathLike) -> AnnotationStats:
    """Count the annotations of a COCO JSON (raises ValueError naming a malformed file)."""
    coco = load_coco(str(ann_file))
    names = {cat["id"]: cat["name"] for cat in coco.dataset["categories"]}
    per_class = {name: 0 for name in names.values()}
    crowd, sizes, size_labels = 0, [], []
    with_instances = set()
    for ann in coco.dataset.get("annotations", []):
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        name = names[ann["category_id"]]
        per_class[name] += 1
        sizes.append(float(np.sqrt(ann["area"])))
        size_labels.append(name)
        with_instances.add(ann["image_id"])
    images = len(coco.dataset["images"])
    return AnnotationStats(
        str(ann_file),
        images,
        images - len(with_instances),
        per_class,
        crowd,
        np.array(sizes, dtype=np.float64),
        size_labels,
    )


def plot_annotation_stats(stats: AnnotationStats, title: str | None = None) -> Figure:
    """Class histogram (left) and instance-size histogram per class (right)."""
    fig, (ax_cls, ax_size) = plt.subplots(1, 2, figsize=(12, 3.8))
    names = list(stats.instances_per_class)
    counts = [stats.instances_per_class[n] for n in names]
    colours = make_palette(len(names))  # the colours draw_instances gives each label
    ax_cls.bar(names, counts, color=colours)
    ax_cls.set_ylabel("instances")
    ax_cls.set_title(f"instances per class ({stats.crowd} crowd regions not shown)")
    ax_cls.tick_params(axis="x", rotation=45)
    if len(stats.sizes):
        bins = np.linspace(0, stats.sizes.max() * 1.05, 25)
        labels = np.array(stats.size_labels)
        data = [stats.sizes[labels == n] for n in names]
        ax_size.hist(data, bins=bins, stacked=True, color=colours, label=names)
        for edge in SIZE_EDGES:
            ax_size.axvline(edge, color="k", linestyle="--", linewidth=0.8)
        ax_size.legend(fontsize=7, ncol=2)
    ax_size.set_xlabel("instance size sqrt(area) [px]")
    ax_size.set_ylabel("instances")
    ax_size.set_title("instance size distribution (COCO small/medium/large edges dashed)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_image(
    ax: Any,
    img_rgb: np.ndarray,
    anns: list[dict[str, Any]],
    masks: list[np.ndarray],
    label_of: dict[int, int],
    class_names: list[str],
) -> None:
    """Instances with :func:`detkit.viz.draw_instances`; crowd regions as dashed grey boxes."""
    plain = [i for i, a in enumerate(anns) if not a.get("iscrowd", 0)]
    boxes = np.array(
        [xywh_to_xyxy(np.array([anns[i]["bbox"]], np.float32))[0] for i in plain]
    ).reshape(-1, 4)
    labels = [label_of[anns[i]["category_id"]] for i in plain]
    draw_instances(
        ax, img_rgb, boxes, labels, masks=[masks[i] for i in plain] or None, class_names=class_names
    )
    for ann in anns:
        if ann.get("iscrowd", 0):
            x, y, w, h = ann["bbox"]
            ax.add_patch(
                Rectangle((x, y), w, h, fill=False, edgecolor="0.85", linewidth=1.2, linestyle="--")
            )
            ax.text(
                x,
                y + h,
                f"{class_names[label_of[ann['category_id']]]} (crowd)",
                fontsize=6,
                color="0.15",
                va="top",
                bbox={"facecolor": "0.85", "alpha": 0.8, "pad": 0.5, "edgecolor": "none"},
            )


def show_annotated_images(
    ann_file: str | os.PathLike,
    img_prefix: str | os.PathLike,
    num: int = 4,
    seed: int = 0,
    cols: int = 2,
) -> Figure:
    """Draw ``num`` random images of ``ann_file`` (found under ``img_prefix``) with masks and boxes.

    Crowd regions are drawn with dashed boxes. Returns the figure.
    """
    coco = load_coco(str(ann_file))
    class_names = [cat["name"] for cat in coco.dataset["categories"]]
    label_of = {cat["id"]: label for label, cat in enumerate(coco.dataset["categories"])}
    img_ids = list(coco.getImgIds())
    if not img_ids:
        raise ValueError(f"{ann_file} has no images to show")
    chosen = np.random.default_rng(seed).choice(img_ids, size=min(num, len(img_ids)), replace=False)
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, img_id in zip(axes.ravel(), chosen.tolist()):
        info = coco.loadImgs([img_id])[0]
        img = read_image(os.path.join(str(img_prefix), info["file_name"]), channel_order="rgb")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        masks = [coco.annToMask(a) for a in anns]
        _draw_image(ax, img, anns, masks, label_of, class_names)
        ax.set_title(f"{info['file_name']} ({len(anns)} annotations)", fontsize=8)
    fig.tight_layout()
    return fig
