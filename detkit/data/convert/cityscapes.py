"""Cityscapes -> COCO instance annotations, with MMDetection v2's converter semantics.

Pure steps, as in mmdet's ``tools/dataset_converters/cityscapes.py``:
``collect_files`` -> ``load_img_info`` (per image) -> ``cvt_annotations`` (assemble) ->
``detkit.io.write_json`` (atomic); ``convert_cityscapes`` runs them for every split.

The output equals mmdet's for the same input (same records, ids, RLE strings, areas and
boxes), with these differences: images are sorted (mmdet keeps ``glob`` order), missing split
folders are skipped, errors name the path at fault, the JSON is written atomically, and each
image is read in a single pass: the instance-id image is cut into runs of equal ids in
column-major (COCO RLE) order, found from vertical neighbour differences without transposing
the image, and each instance's uncompressed COCO RLE is read off its runs and compressed by
pycocotools (``frPyObjects``) - instead of one full-image comparison and one ``encode`` per
instance.

COCO boxes are ``[x, y, w, h]`` of the pixel extent (``w`` = last column - first column + 1).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
from cityscapesscripts.helpers.labels import id2label
from cityscapesscripts.helpers.labels import labels as cityscapes_labels
from fastprogress.fastprogress import progress_bar
from PIL import Image
from torchvision.io import ImageReadMode, decode_png, read_file

from detkit.io import write_json

__all__ = [
    "CityscapesFiles",
    "ConversionSummary",
    "SPLIT_JSON_NAMES",
    "coco_categories",
    "collect_files",
    "convert_cityscapes",
    "cvt_annotations",
    "instance_rles",
    "load_img_info",
]

IMG_SUFFIX = "leftImg8bit.png"
SPLIT_JSON_NAMES = {
    "train": "instancesonly_filtered_gtFine_train.json",
    "val": "instancesonly_filtered_gtFine_val.json",
    "test": "instancesonly_filtered_gtFine_test.json",
}
_FIRST_INSTANCE_ID = 24  # smaller ids are stuff classes


@dataclass(frozen=True)
class CityscapesFiles:
    """Paths of one image: ``img_file`` (leftImg8bit), ``inst_file`` (instanceIds),
    ``segm_file`` (labelIds, referenced but not read)."""

    img_file: str
    inst_file: str
    segm_file: str


def coco_categories() -> list[dict[str, Any]]:
    """The 8 evaluated instance categories ``{'id': label id, 'name': ...}`` in label-table
    order."""
    return [
        {"id": label.id, "name": label.name}
        for label in cityscapes_labels
        if label.hasInstances and not label.ignoreInEval
    ]


def collect_files(img_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> list[CityscapesFiles]:
    """Pair every ``<img_dir>/<city>/*_leftImg8bit.png`` with its gtFine files, sorted by path.

    Raises:
        FileNotFoundError: ``img_dir`` is missing or holds no image, or an image has no
            ``_gtFine_instanceIds.png`` in ``gt_dir``.
        ValueError: a PNG in a city folder is not a ``*_leftImg8bit.png``.
    """
    img_dir, gt_dir = Path(img_dir), Path(gt_dir)
    if not img_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {img_dir} does not exist (expected <root>/leftImg8bit/<split>)"
        )
    files = []
    for img_path in sorted(img_dir.glob("*/*.png")):
        if not img_path.name.endswith(IMG_SUFFIX):
            raise ValueError(
                f"{img_path} is not a Cityscapes image: names must end with {IMG_SUFFIX!r}"
            )
        stem = str(gt_dir / img_path.relative_to(img_dir))[: -len(IMG_SUFFIX)]
        inst_file = stem + "gtFine_instanceIds.png"
        if not os.path.isfile(inst_file):
            raise FileNotFoundError(f"{img_path} has no annotation file: {inst_file} is missing")
        files.append(CityscapesFiles(str(img_path), inst_file, stem + "gtFine_labelIds.png"))
    if not files:
        raise FileNotFoundError(f"no <city>/*_{IMG_SUFFIX} images found in {img_dir}")
    return files


def _read_instance_ids(path: str) -> np.ndarray:
    """``(H, W)`` ids of a (16-bit) ``_instanceIds.png``, decoded unchanged by torchvision."""
    try:
        ids = decode_png(read_file(path), mode=ImageReadMode.UNCHANGED).numpy()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"cannot read instance-id image {path}: {exc}") from exc
    if ids.shape[0] != 1:
        raise ValueError(
            f"instance-id image {path} must be single-channel, got {ids.shape[0]} channels"
        )
    return ids[0]


def instance_rles(inst_ids: np.ndarray) -> dict[int, dict[str, Any]]:
    """Compressed COCO RLE of every instance id ``>= 24`` in an ``(H, W)`` id image.

    Equal to ``pycocotools.mask.encode(np.asfortranarray(inst_ids == i))`` for each id ``i``
    (``counts`` as bytes), computed in one pass over the image.
    """
    height, width = inst_ids.shape
    size = height * width
    # Run starts in column-major order (COCO RLE order), found without transposing the image:
    # a run starts where a pixel differs from the one above it, or at the top of a column
    # whose value differs from the bottom of the previous column.
    ys, xs = np.nonzero(inst_ids[1:] != inst_ids[:-1])
    column_tops = np.flatnonzero(inst_ids[0, 1:] != inst_ids[-1, :-1]) + 1
    starts = np.concatenate(
        ([0], xs.astype(np.int64) * height + ys + 1, column_tops.astype(np.int64) * height)
    )
    starts.sort()
    ends = np.concatenate((starts[1:], [size]))
    values = inst_ids[starts % height, starts // height]
    keep = values >= _FIRST_INSTANCE_ID
    starts, ends, values = starts[keep], ends[keep], values[keep]
    order = np.argsort(values, kind="stable")  # runs of one id stay in image order
    starts, ends, values = starts[order], ends[order], values[order]
    ids, first = np.unique(values, return_index=True)
    rles = {}
    for inst_id, lo, hi in zip(ids.tolist(), first.tolist(), [*first[1:].tolist(), len(values)]):
        s, e = starts[lo:hi], ends[lo:hi]
        counts: np.ndarray = np.empty(2 * len(s) + 1, dtype=np.int64)
        counts[0] = s[0]
        counts[1::2] = e - s
        counts[2:-1:2] = s[1:] - e[:-1]
        counts[-1] = size - e[-1]
        if counts[-1] == 0:
            counts = counts[:-1]
        rles[inst_id] = mask_utils.frPyObjects(
            {"counts": counts.tolist(), "size": [height, width]}, height, width
        )
    return rles


def _check_same_size(files: CityscapesFiles, shape: tuple[int, ...]) -> None:
    """The ``_instanceIds.png`` must have its image's size (the record's width/height come from
    it)."""
    try:
        with Image.open(files.img_file) as image:
            width, height = image.size  # reads the header only
    except OSError as exc:
        raise ValueError(f"cannot read image {files.img_file}: {exc}") from exc
    if (height, width) != tuple(shape[:2]):
        raise ValueError(
            f"{files.inst_file} is {shape[1]}x{shape[0]} but its image {files.img_file} is "
            f"{width}x{height} (width x height): the annotation does not belong to this image size"
        )


def load_img_info(files: CityscapesFiles) -> dict[str, Any]:
    """Image record with its ``anno_info`` list, from the image's ``_gtFine_instanceIds.png``.

    Ids ``>= 1000`` are individual instances of class ``id // 1000``; smaller ids (``>= 24``)
    are crowd regions of class ``id``. Classes without instances or ignored in evaluation
    (caravan, trailer) are skipped. Annotations are in ascending instance-id order.
    """
    inst_ids = _read_instance_ids(files.inst_file)
    _check_same_size(files, inst_ids.shape)
    anno_info = []
    for inst_id, rle in instance_rles(inst_ids).items():
        label_id = inst_id // 1000 if inst_id >= 1000 else inst_id
        label = id2label.get(label_id)
        if label is None:
            raise ValueError(
                f"{files.inst_file}: pixel value {inst_id} is not a Cityscapes id (label "
                f"{label_id})"
            )
        if not label.hasInstances or label.ignoreInEval:
            continue
        anno_info.append(
            {
                "iscrowd": int(inst_id < 1000),
                "category_id": label.id,
                "bbox": mask_utils.toBbox(rle).tolist(),
                "area": mask_utils.area(rle).tolist(),
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
            }
        )
    city = os.path.basename(os.path.dirname(files.img_file))
    return {
        "file_name": os.path.join(city, os.path.basename(files.img_file)),
        "height": int(inst_ids.shape[0]),
        "width": int(inst_ids.shape[1]),
        "anno_info": anno_info,
        "segm_file": os.path.join(city, os.path.basename(files.segm_file)),
    }


def cvt_annotations(image_infos: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Assemble the COCO dict: sequential image/annotation ids from 0, the 8 categories; the
    ``annotations`` key is dropped when there is none (as for the public test split)."""
    out: dict[str, Any] = {"images": [], "categories": coco_categories(), "annotations": []}
    for img_id, info in enumerate(image_infos):
        info = dict(info)
        annos = info.pop("anno_info")
        info["id"] = img_id
        out["images"].append(info)
        for anno in annos:
            out["annotations"].append({**anno, "image_id": img_id, "id": len(out["annotations"])})
    if not out["annotations"]:
        del out["annotations"]
    return out


@dataclass
class ConversionSummary:
    """Counts of one converted split."""

    split: str
    json_file: Path
    images: int
    instances_per_class: dict[str, int] = field(default_factory=dict)
    crowd: int = 0
    seconds: float = 0.0

    @classmethod
    def from_coco(
        cls, split: str, json_file: Path, coco: dict[str, Any], seconds: float
    ) -> ConversionSummary:
        names = {cat["id"]: cat["name"] for cat in coco["categories"]}
        per_class = {name: 0 for name in names.values()}
        crowd = 0
        for anno in coco.get("annotations", []):
            if anno["iscrowd"]:
                crowd += 1
            else:
                per_class[names[anno["category_id"]]] += 1
        return cls(split, json_file, len(coco["images"]), per_class, crowd, seconds)

    def __str__(self) -> str:
        classes = ", ".join(f"{name} {count}" for name, count in self.instances_per_class.items())
        return (
            f"{self.split}: {self.images} images, {sum(self.instances_per_class.values())} "
            "instances "
            f"({classes}), {self.crowd} crowd regions -> {self.json_file} [{self.seconds:.1f}s]"
        )


def _collect_with_bar(
    infos: Iterable[dict[str, Any]], total: int, show: bool, label: str
) -> list[dict[str, Any]]:
    bar = progress_bar(infos, total=total, display=show)
    bar.comment = label
    return list(bar)


def _load_all(
    files: Sequence[CityscapesFiles], nproc: int, show_progress: bool, label: str
) -> list[dict[str, Any]]:
    """``load_img_info`` of every file, in order, in ``nproc`` processes."""
    if nproc <= 1:
        return _collect_with_bar(map(load_img_info, files), len(files), show_progress, label)
    with multiprocessing.Pool(nproc) as pool:
        infos = pool.imap(load_img_info, files, chunksize=max(1, len(files) // (nproc * 8)))
        return _collect_with_bar(infos, len(files), show_progress, label)


def _remove_stale_temporaries(json_file: Path) -> None:
    """Delete ``.<name>.*.tmp`` files a killed earlier conversion left beside ``json_file``."""
    for stale in json_file.parent.glob(f".{json_file.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def convert_cityscapes(
    root: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    img_dir: str = "leftImg8bit",
    gt_dir: str = "gtFine",
    nproc: int = 1,
    splits: Sequence[str] = ("train", "val", "test"),
    show_progress: bool = True,
) -> list[ConversionSummary]:
    """Convert every present split of a Cityscapes tree to
    ``instancesonly_filtered_gtFine_<split>.json``.

    Args:
        root: dataset root holding ``img_dir`` and ``gt_dir``.
        out_dir: where the JSON files go (default: ``root``); created if missing.
        img_dir, gt_dir: folder names under ``root``.
        nproc: worker processes (results keep the sorted order).
        splits: split folders to convert; missing ones are skipped.
        show_progress: show a fastprogress bar per split.

    Returns:
        One :class:`ConversionSummary` per converted split.

    Raises:
        FileNotFoundError: ``root/img_dir`` is missing, or none of ``splits`` exists in it.
    """
    root = Path(root)
    images_root, gt_root = root / img_dir, root / gt_dir
    if not images_root.is_dir():
        raise FileNotFoundError(
            f"{images_root} does not exist: expected a Cityscapes root with {img_dir}/ and "
            f"{gt_dir}/"
        )
    for split in splits:
        if split not in SPLIT_JSON_NAMES:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_JSON_NAMES)}")
    present = [split for split in splits if (images_root / split).is_dir()]
    if not present:
        raise FileNotFoundError(f"none of the splits {list(splits)} exists in {images_root}")
    out_path = Path(out_dir) if out_dir is not None else root
    summaries = []
    for split in present:
        start = time.perf_counter()
        files = collect_files(images_root / split, gt_root / split)
        coco = cvt_annotations(_load_all(files, nproc, show_progress, split))
        _remove_stale_temporaries(out_path / SPLIT_JSON_NAMES[split])
        json_file = out_path / SPLIT_JSON_NAMES[split]
        write_json(json_file, coco)
        summaries.append(
            ConversionSummary.from_coco(split, json_file, coco, time.perf_counter() - start)
        )
    return summaries
