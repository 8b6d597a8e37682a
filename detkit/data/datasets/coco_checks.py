"""Checks of a COCO annotation dict before it is indexed: malformed entries raise naming the
file, the image/annotation id and the field; entries MMDetection drops by rule (annotation of a
missing image or unknown category, box with zero/negative width or height) are still dropped,
but counted and reported in one warning per file.
"""

from __future__ import annotations

import warnings
from collections import Counter
from numbers import Real
from typing import Any

__all__ = ["check_coco_dict"]


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_image(ann_file: str, image: Any, index: int) -> None:
    if not isinstance(image, dict):
        raise ValueError(f"{ann_file}: images[{index}] must be a dict, got {type(image).__name__}")
    name = f"image {image.get('id', f'#{index}')!r}"
    for key in ("id", "file_name", "width", "height"):
        if key not in image:
            raise ValueError(f"{ann_file}: {name} has no {key!r}")
    for key in ("width", "height"):
        if not _number(image[key]) or image[key] <= 0:
            raise ValueError(
                f"{ann_file}: {name} field {key!r} must be a positive number, got {image[key]!r}"
            )


def _check_segmentation(ann_file: str, name: str, segmentation: Any) -> None:
    if isinstance(segmentation, dict):  # RLE
        if "counts" not in segmentation or "size" not in segmentation:
            raise ValueError(
                f"{ann_file}: {name} field 'segmentation' is an RLE without 'counts'/'size'"
            )
        return
    if not isinstance(segmentation, list) or not segmentation:
        raise ValueError(
            f"{ann_file}: {name} field 'segmentation' must be a non-empty list of polygons or "
            f"an RLE dict, got {segmentation!r:.80}"
        )
    for k, polygon in enumerate(segmentation):
        if (
            not isinstance(polygon, list)
            or len(polygon) < 6
            or len(polygon) % 2
            or not all(_number(v) for v in polygon)
        ):
            raise ValueError(
                f"{ann_file}: {name} field 'segmentation' polygon {k} must be an even list of at "
                f"least 6 numbers (3 points x, y), got {polygon!r:.80}"
            )


def _check_annotation(ann_file: str, ann: Any, index: int) -> None:
    if not isinstance(ann, dict):
        raise ValueError(
            f"{ann_file}: annotations[{index}] must be a dict, got {type(ann).__name__}"
        )
    name = f"annotation {ann.get('id', f'#{index}')!r}"
    for key in ("id", "image_id", "category_id", "bbox", "area", "iscrowd"):
        if key not in ann:
            raise ValueError(f"{ann_file}: {name} has no {key!r}")
    bbox = ann["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_number(v) for v in bbox):
        raise ValueError(
            f"{ann_file}: {name} field 'bbox' must be 4 numbers [x, y, w, h], got {bbox!r:.80}"
        )
    if not _number(ann["area"]):
        raise ValueError(
            f"{ann_file}: {name} field 'area' must be a number, got {ann['area']!r:.80}"
        )
    if ann["iscrowd"] not in (0, 1):
        raise ValueError(
            f"{ann_file}: {name} field 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r:.80}"
        )
    if "segmentation" in ann:
        _check_segmentation(ann_file, name, ann["segmentation"])


def check_coco_dict(ann_file: str, dataset: dict[str, Any]) -> dict[str, int]:
    """Validate ``dataset`` (a parsed COCO JSON) in place of pycocotools' silent behaviour.

    Raises:
        ValueError: a malformed image or annotation (names ``ann_file``, the id and the field),
            or duplicate image ids (pycocotools would merge them).

    Returns:
        Counts of annotations MMDetection's rule drops, per reason (also warned once).
    """
    for key in ("images", "annotations", "categories"):
        if key in dataset and not isinstance(dataset[key], list):
            raise ValueError(
                f"{ann_file}: {key!r} must be a list, got {type(dataset[key]).__name__}"
            )
    images = dataset.get("images", [])
    for index, image in enumerate(images):
        _check_image(ann_file, image, index)
    duplicates = sorted(i for i, n in Counter(image["id"] for image in images).items() if n > 1)
    if duplicates:
        raise ValueError(
            f"{ann_file}: duplicate image ids {duplicates[:10]} (each image needs its own id)"
        )
    image_ids = {image["id"] for image in images}
    category_ids = {c.get("id") for c in dataset.get("categories", []) if isinstance(c, dict)}
    dropped: Counter[str] = Counter()
    for index, ann in enumerate(dataset.get("annotations", [])):
        _check_annotation(ann_file, ann, index)
        if ann["image_id"] not in image_ids:
            dropped["image_id not in images"] += 1
        elif ann["category_id"] not in category_ids:
            dropped["category_id not in categories"] += 1
        elif ann["bbox"][2] <= 0 or ann["bbox"][3] <= 0:
            dropped["zero or negative box width/height"] += 1
    if dropped:
        details = ", ".join(f"{n} with {reason}" for reason, n in dropped.items())
        warnings.warn(
            f"{ann_file}: {sum(dropped.values())} annotations will be ignored (MMDetection's "
            "rule): "
            f"{details}",
            UserWarning,
            stacklevel=3,
        )
    return dict(dropped)
