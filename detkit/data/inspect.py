"""Statistics and samples of a COCO-format annotation file (used by notebook 01).

``coco_stats`` counts instances per class, crowd regions, images without instances and the
instance sizes (``sqrt(area)`` in pixels; drawn by :func:`detkit.viz.plot_annotation_stats`);
``show_annotated_images`` reads random images with their annotations and has
:mod:`detkit.viz.annotations` draw them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from detkit.data.datasets.coco import load_coco
from detkit.image_io import read_image
from detkit.viz.annotations import AnnotatedImage, plot_annotated_images

__all__ = ["AnnotationStats", "coco_stats", "show_annotated_images"]

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
        size_edges: COCO's small/medium and medium/large edges on ``sqrt(area)``.
    """

    ann_file: str
    images: int
    images_without_instances: int
    instances_per_class: dict[str, int]
    crowd: int
    sizes: np.ndarray
    size_labels: list[str] = field(default_factory=list)
    size_edges: tuple[int, int] = SIZE_EDGES

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
            f"{os.path.basename(self.ann_file)}: {self.images} images "
            f"({self.images_without_instances} without "
            f"instances), {total} instances ({classes}), {self.crowd} crowd; sizes "
            f"{self.size_buckets()}"
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


def show_annotated_images(
    ann_file: str | os.PathLike,
    img_prefix: str | os.PathLike,
    num: int = 4,
    seed: int = 0,
    cols: int = 2,
) -> Figure:
    """Draw ``num`` random images of ``ann_file`` (found under ``img_prefix``) with their masks
    and boxes (:func:`detkit.viz.annotations.plot_annotated_images`; crowd regions dashed).

    Returns the figure.

    Raises:
        ValueError: the file lists no images.
    """
    coco = load_coco(str(ann_file))
    class_names = [cat["name"] for cat in coco.dataset["categories"]]
    label_of = {cat["id"]: label for label, cat in enumerate(coco.dataset["categories"])}
    img_ids = list(coco.getImgIds())
    if not img_ids:
        raise ValueError(f"{ann_file} has no images to show")
    chosen = np.random.default_rng(seed).choice(img_ids, size=min(num, len(img_ids)), replace=False)
    images = []
    for img_id in chosen.tolist():
        info = coco.loadImgs([img_id])[0]
        img = read_image(os.path.join(str(img_prefix), info["file_name"]), channel_order="rgb")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        masks = [coco.annToMask(a) for a in anns]
        title = f"{info['file_name']} ({len(anns)} annotations)"
        images.append(AnnotatedImage(img, anns, masks, title))
    return plot_annotated_images(images, label_of, class_names, cols)
