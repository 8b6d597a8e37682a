"""``CityscapesDataset``: the converter's COCO JSON with MMDetection v2's Cityscapes rules."""

from __future__ import annotations

from typing import Any

from detkit.data.datasets.coco import CocoDataset
from detkit.registry import DATASETS

__all__ = ["CityscapesDataset"]


@DATASETS.register_module()
class CityscapesDataset(CocoDataset):
    """Cityscapes instances (8 classes, label ``i`` <-> category id ``[24, 25, 26, 27, 28, 31, 32,
    33][i]``).

    Differences from :class:`CocoDataset` (mmdet ``cityscapes.py``): with ``filter_empty_gt``
    an image whose annotations are all crowd is dropped too; annotations are not tested for
    intersection with the image; ``seg_map`` is the record's ``segm_file`` (labelIds PNG).
    """

    CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
    PALETTE = [
        (220, 20, 60),
        (255, 0, 0),
        (0, 0, 142),
        (0, 0, 70),
        (0, 60, 100),
        (0, 80, 100),
        (0, 0, 230),
        (119, 11, 32),
    ]

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        ids_in_cat = self._img_ids_in_classes()
        valid_inds, valid_img_ids = [], []
        for i, info in enumerate(self.data_infos):
            img_id = info["id"]
            anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[img_id]))
            all_iscrowd = all(ann["iscrowd"] for ann in anns)
            if self.filter_empty_gt and (self.img_ids[i] not in ids_in_cat or all_iscrowd):
                self.filter_reasons["no non-crowd annotation of CLASSES"] += 1
                continue
            if min(info["width"], info["height"]) >= min_size:
                valid_inds.append(i)
                valid_img_ids.append(img_id)
            else:
                self.filter_reasons[f"shorter side below min_size={min_size}"] += 1
        self.img_ids = valid_img_ids
        return valid_inds

    def _keep_annotation(self, ann: dict[str, Any], img_info: dict[str, Any]) -> bool:
        _, _, w, h = ann["bbox"]
        return not (
            ann.get("ignore", False)
            or ann["area"] <= 0
            or w < 1
            or h < 1
            or ann["category_id"] not in self.cat2label
        )

    def _seg_map(self, img_info: dict[str, Any]) -> str:
        return img_info["segm_file"]
