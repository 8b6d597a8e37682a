"""Write a synthetic sample in the real Cityscapes layout and formats.

Layout (``<out>`` is the dataset root)::

    leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png        RGB image
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_polygons.json        polygon annotation
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png      uint16 instance ids
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png         uint8 label ids

The id images are rasterised from the JSON by cityscapesscripts itself
(``createInstanceImage`` / ``createLabelImage`` on an ``Annotation`` read with
``fromJsonFile``). As in the public release, the ``test`` split has images but empty
annotations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.preparation.json2instanceImg import createInstanceImage
from cityscapesscripts.preparation.json2labelImg import createLabelImage
from PIL import Image

from detkit.data.synthetic.scene import make_scene
from detkit.io import write_json

__all__ = ["CITIES", "SampleSummary", "generate_cityscapes_sample", "render_id_images"]

# Real Cityscapes city names per split (the sample borrows them for its folder layout).
CITIES: dict[str, tuple[str, ...]] = {
    "train": ("aachen", "bochum", "bremen"),
    "val": ("frankfurt", "lindau", "munster"),
    "test": ("berlin", "bielefeld"),
}
_SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}


@dataclass
class SampleSummary:
    """What ``generate_cityscapes_sample`` wrote: image counts and polygon objects per label."""

    root: Path
    images: dict[str, int] = field(default_factory=dict)
    objects_per_label: dict[str, int] = field(default_factory=dict)


def render_id_images(json_path: Path) -> None:
    """Render ``_gtFine_instanceIds.png`` (uint16) and ``_gtFine_labelIds.png`` next to a
    ``_gtFine_polygons.json`` with cityscapesscripts' own rasteriser."""
    annotation = Annotation()
    annotation.fromJsonFile(str(json_path))
    stem = str(json_path)[: -len("polygons.json")]
    instance = np.asarray(createInstanceImage(annotation, "ids"), dtype=np.int32)
    if instance.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError(f"{json_path}: instance id {instance.max()} does not fit a uint16 PNG")
    Image.fromarray(instance.astype(np.uint16)).save(stem + "instanceIds.png")
    createLabelImage(annotation, "ids").save(stem + "labelIds.png")


def _write_one(
    root: Path,
    split: str,
    index: int,
    width: int,
    height: int,
    seed: int,
    instances: tuple[int, int],
) -> list[str]:
    cities = CITIES[split]
    city = cities[index % len(cities)]
    name = f"{city}_{index // len(cities):06d}_000019"
    rng = np.random.default_rng([seed, _SPLIT_INDEX[split], index])
    image, objects = make_scene(rng, width, height, instances=instances)
    img_dir = root / "leftImg8bit" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(img_dir / f"{name}_leftImg8bit.png")
    written = [] if split == "test" else [obj.to_json() for obj in objects]
    json_path = gt_dir / f"{name}_gtFine_polygons.json"
    write_json(json_path, {"imgHeight": height, "imgWidth": width, "objects": written})
    render_id_images(json_path)
    return [obj["label"] for obj in written]


def generate_cityscapes_sample(
    out: str | os.PathLike,
    train: int = 60,
    val: int = 20,
    test: int = 0,
    size: tuple[int, int] = (512, 256),
    seed: int = 0,
    instances: tuple[int, int] = (3, 8),
) -> SampleSummary:
    """Generate a Cityscapes-format sample of street-like scenes.

    Args:
        out: dataset root to write (created; existing files of the same names are replaced).
        train, val, test: number of images per split.
        size: ``(width, height)`` of every image, from 64x32 up to 2048x1024.
        seed: the whole sample is a deterministic function of ``seed`` and the image index.
        instances: ``(min, max)`` evaluated-class objects per image (when it has any).

    Returns:
        A :class:`SampleSummary` with image counts and polygon-object counts per label.
    """
    width, height = int(size[0]), int(size[1])
    if not (64 <= width <= 2048 and 32 <= height <= 1024):
        raise ValueError(
            f"size must be between (64, 32) and (2048, 1024) (width, height), got {size!r}"
        )
    if not 0 <= instances[0] <= instances[1]:
        raise ValueError(f"instances must be (min, max) with 0 <= min <= max, got {instances!r}")
    counts = {"train": train, "val": val, "test": test}
    for split, count in counts.items():
        if count < 0:
            raise ValueError(f"number of {split} images must be >= 0, got {count}")
    summary = SampleSummary(root=Path(out))
    for split, count in counts.items():
        for index in range(count):
            for label in _write_one(summary.root, split, index, width, height, seed, instances):
                summary.objects_per_label[label] = summary.objects_per_label.get(label, 0) + 1
        summary.images[split] = count
    return summary
