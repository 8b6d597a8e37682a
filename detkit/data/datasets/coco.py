"""``CocoDataset``: COCO-format annotations through pycocotools (MMDetection v2 semantics)."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from detkit.data.datasets.coco_checks import check_coco_dict
from detkit.data.datasets.custom import CustomDataset
from detkit.evaluation.dataset_eval import DATASET_METRICS
from detkit.registry import DATASETS

__all__ = ["CocoDataset"]

COCO_CLASSES = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)


def load_coco(ann_file: str) -> COCO:
    """Read a COCO JSON quietly; a malformed file raises ValueError naming it (and the image or
    annotation id and field, see :func:`check_coco_dict`)."""
    try:
        dataset = _read_coco_json(ann_file)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"malformed COCO annotation file {ann_file}: {exc}") from exc
    check_coco_dict(ann_file, dataset)
    try:
        coco = COCO()
        coco.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
    except (json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed COCO annotation file {ann_file}: {exc}") from exc
    return coco


def _read_coco_json(ann_file: str) -> dict[str, Any]:
    with open(ann_file) as f:
        dataset = json.load(f)
    if not isinstance(dataset, dict) or "images" not in dataset or "categories" not in dataset:
        raise ValueError("expected a dict with 'images' and 'categories'")
    return dataset


@DATASETS.register_module()
class CocoDataset(CustomDataset):
    """COCO detection/instance-segmentation dataset.

    Label ``i`` is the ``i``-th category of the JSON whose name is in ``CLASSES`` (in the
    JSON's ``categories`` order); ``cat_ids[i]`` maps it back. Boxes come from ``bbox``
    ``[x, y, w, h]`` as ``[x, y, x + w, y + h]``.
    """

    CLASSES: tuple[str, ...] | None = COCO_CLASSES
    PALETTE: list[tuple[int, int, int]] | None = None

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        self.coco = load_coco(ann_file)
        self.cat_ids = self.coco.getCatIds(catNms=list(self.CLASSES or ()))
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.img_ids = list(self.coco.getImgIds())
        data_infos = []
        ann_ids: list[int] = []
        for img_id in self.img_ids:
            info = dict(self.coco.loadImgs([img_id])[0])
            for key in ("file_name", "width", "height"):
                if key not in info:
                    raise ValueError(f"{ann_file}: image {img_id} has no {key!r}")
            info["filename"] = info["file_name"]
            data_infos.append(info)
            ann_ids.extend(self.coco.getAnnIds(imgIds=[img_id]))
        if len(set(ann_ids)) != len(ann_ids):
            raise ValueError(f"annotation ids in {ann_file} are not unique")
        return data_infos

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        img_id = self.data_infos[idx]["id"]
        ann_info = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[img_id]))
        return self._parse_ann_info(self.data_infos[idx], ann_info)

    def get_cat_ids(self, idx: int) -> list[int]:
        img_id = self.data_infos[idx]["id"]
        return [
            ann["category_id"] for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=[img_id]))
        ]

    def _img_ids_in_classes(self) -> set[int]:
        ids_with_ann = {ann["image_id"] for ann in self.coco.anns.values()}
        ids_in_cat: set[int] = set()
        for cat_id in self.cat_ids:
            ids_in_cat |= set(self.coco.catToImgs[cat_id])
        return ids_in_cat & ids_with_ann

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Drop images without annotations of ``CLASSES`` (if ``filter_empty_gt``) or too small."""
        ids_in_cat = self._img_ids_in_classes()
        valid_inds, valid_img_ids = [], []
        for i, info in enumerate(self.data_infos):
            if self.filter_empty_gt and self.img_ids[i] not in ids_in_cat:
                self.filter_reasons[
                    f"no annotation of the {len(self.cat_ids)} selected classes in CLASSES"
                ] += 1
                continue
            if min(info["width"], info["height"]) >= min_size:
                valid_inds.append(i)
                valid_img_ids.append(self.img_ids[i])
            else:
                self.filter_reasons[f"shorter side below min_size={min_size}"] += 1
        self.img_ids = valid_img_ids
        return valid_inds

    def _keep_annotation(self, ann: dict[str, Any], img_info: dict[str, Any]) -> bool:
        """COCO rule: skip ignored, empty, degenerate, off-image or unselected-class annotations."""
        x1, y1, w, h = ann["bbox"]
        inter_w = max(0, min(x1 + w, img_info["width"]) - max(x1, 0))
        inter_h = max(0, min(y1 + h, img_info["height"]) - max(y1, 0))
        if inter_w * inter_h == 0:
            return False
        return not (
            ann.get("ignore", False)
            or ann["area"] <= 0
            or w < 1
            or h < 1
            or ann["category_id"] not in self.cat2label
        )

    def _parse_ann_info(
        self, img_info: dict[str, Any], ann_info: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """``bboxes`` [N, 4] float32 xyxy, ``labels`` [N] int64, ``bboxes_ignore`` (crowd) [M, 4],
        ``masks`` (raw COCO segmentations) and ``seg_map``."""
        gt_bboxes, gt_labels, gt_bboxes_ignore, gt_masks_ann = [], [], [], []
        for ann in ann_info:
            if not self._keep_annotation(ann, img_info):
                continue
            x1, y1, w, h = ann["bbox"]
            bbox = [x1, y1, x1 + w, y1 + h]
            if ann.get("iscrowd", False):
                gt_bboxes_ignore.append(bbox)
            else:
                gt_bboxes.append(bbox)
                gt_labels.append(self.cat2label[ann["category_id"]])
                gt_masks_ann.append(ann.get("segmentation"))
        return {
            "bboxes": np.array(gt_bboxes, dtype=np.float32).reshape(-1, 4),
            "labels": np.array(gt_labels, dtype=np.int64),
            "bboxes_ignore": np.array(gt_bboxes_ignore, dtype=np.float32).reshape(-1, 4),
            "masks": gt_masks_ann,
            "seg_map": self._seg_map(img_info),
        }

    def _seg_map(self, img_info: dict[str, Any]) -> str:
        return img_info["filename"].replace("jpg", "png")

    #: the ``metric`` names :meth:`evaluate` accepts (tools/test.py checks ``--eval`` against them)
    METRICS: tuple[str, ...] = DATASET_METRICS

    def evaluate(
        self, results: list[Any], metric: str | list[str] = "bbox", **kwargs: Any
    ) -> dict[str, Any]:
        """COCO ``bbox``/``segm``/``proposal`` metrics (and ``cityscapes``) of ``results``, one per
        image in dataset order; keyword arguments as :func:`detkit.evaluation.evaluate_dataset`
        (``logger``, ``jsonfile_prefix``, ``outfile_prefix``, ``classwise``, ...)."""
        from detkit.evaluation import evaluate_dataset

        return evaluate_dataset(self, results, metric, **kwargs)

    def format_results(self, results: list[Any], **kwargs: Any) -> tuple[Any, Any]:
        """Write ``results`` as COCO json (``jsonfile_prefix``) or Cityscapes txt/png
        (``txtfile_prefix``); see :func:`detkit.evaluation.format_dataset_results`."""
        from detkit.evaluation import format_dataset_results

        return format_dataset_results(self, results, **kwargs)
