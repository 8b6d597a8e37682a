"""``XMLDataset`` / ``VOCDataset``: Pascal VOC layout (MMDetection v2 semantics).

``ann_file`` lists image ids (one per line); images are ``<img_prefix>/JPEGImages/<id>.jpg``
and annotations ``<img_prefix>/Annotations/<id>.xml``. Boxes are read as ints and shifted by
-1 (VOC pixel indices start at 1), giving ``[N, 4]`` float32 xyxy; ``difficult`` objects go to
``bboxes_ignore``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from detkit.data.datasets.custom import CustomDataset
from detkit.data.transforms.loading import read_image
from detkit.registry import DATASETS

__all__ = ["XMLDataset", "VOCDataset"]


def _parse_xml(path: str) -> ET.Element:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"annotation file {path} does not exist")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML annotation file {path}: {exc}") from exc


def _text(node: ET.Element, tag: str, path: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        raise ValueError(f"{path}: <{node.tag}> has no <{tag}>")
    return child.text


@DATASETS.register_module()
class XMLDataset(CustomDataset):
    """Detection dataset with one Pascal-VOC XML file per image.

    Args:
        min_size: objects whose box side is smaller go to ``bboxes_ignore`` (None: keep all).
            Here ``min_size`` is the box filter of mmdet's XMLDataset, not the image filter.
        img_subdir, ann_subdir: sub-folders of ``img_prefix`` for images and XML files.
    """

    def __init__(
        self,
        min_size: int | None = None,
        img_subdir: str = "JPEGImages",
        ann_subdir: str = "Annotations",
        **kwargs: Any,
    ) -> None:
        if not self.CLASSES and not kwargs.get("classes"):
            raise ValueError(f"{type(self).__name__} needs CLASSES or classes=[...]")
        self.img_subdir = img_subdir
        self.ann_subdir = ann_subdir
        self.box_min_size = min_size
        super().__init__(min_size=0, **kwargs)

    def _xml_path(self, img_id: str) -> str:
        return os.path.join(self.img_prefix or "", self.ann_subdir, f"{img_id}.xml")

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        self.cat2label = {name: i for i, name in enumerate(self.CLASSES or ())}
        with open(ann_file) as f:
            img_ids = [line.strip() for line in f if line.strip()]
        data_infos = []
        for img_id in img_ids:
            filename = os.path.join(self.img_subdir, f"{img_id}.jpg")
            xml_path = self._xml_path(img_id)
            root = _parse_xml(xml_path)
            size = root.find("size")
            if size is not None:
                width, height = (
                    int(_text(size, "width", xml_path)),
                    int(_text(size, "height", xml_path)),
                )
            else:
                height, width = read_image(os.path.join(self.img_prefix or "", filename)).shape[:2]
            data_infos.append(
                {"id": img_id, "filename": filename, "width": width, "height": height}
            )
        return data_infos

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Drop images without objects of ``CLASSES`` when ``filter_empty_gt`` (no size rule)."""
        if not self.filter_empty_gt:
            return list(range(len(self.data_infos)))
        valid = []
        for i, info in enumerate(self.data_infos):
            root = _parse_xml(self._xml_path(info["id"]))
            if any(
                _text(obj, "name", self._xml_path(info["id"])) in self.cat2label
                for obj in root.findall("object")
            ):
                valid.append(i)
            else:
                self.filter_reasons["no object of CLASSES"] += 1
        return valid

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        xml_path = self._xml_path(self.data_infos[idx]["id"])
        root = _parse_xml(xml_path)
        bboxes, labels, bboxes_ignore, labels_ignore = [], [], [], []
        for obj in root.findall("object"):
            name = _text(obj, "name", xml_path)
            if name not in self.cat2label:
                continue
            label = self.cat2label[name]
            difficult_node = obj.find("difficult")
            difficult = (
                0
                if difficult_node is None or difficult_node.text is None
                else int(difficult_node.text)
            )
            bnd_box = obj.find("bndbox")
            if bnd_box is None:
                raise ValueError(f"{xml_path}: object {name!r} has no <bndbox>")
            bbox = [
                int(float(_text(bnd_box, key, xml_path)))
                for key in ("xmin", "ymin", "xmax", "ymax")
            ]
            ignore = self.box_min_size is not None and (
                bbox[2] - bbox[0] < self.box_min_size or bbox[3] - bbox[1] < self.box_min_size
            )
            if difficult or ignore:
                bboxes_ignore.append(bbox)
                labels_ignore.append(label)
            else:
                bboxes.append(bbox)
                labels.append(label)
        return {
            "bboxes": (np.array(bboxes, dtype=np.float32).reshape(-1, 4) - 1)
            if bboxes
            else np.zeros((0, 4), np.float32),
            "labels": np.array(labels, dtype=np.int64),
            "bboxes_ignore": (np.array(bboxes_ignore, dtype=np.float32).reshape(-1, 4) - 1)
            if bboxes_ignore
            else np.zeros((0, 4), np.float32),
            "labels_ignore": np.array(labels_ignore, dtype=np.int64),
        }


@DATASETS.register_module()
class VOCDataset(XMLDataset):
    """Pascal VOC 2007/2012 (20 classes)."""

    CLASSES = (
        "aeroplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "person",
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    )
