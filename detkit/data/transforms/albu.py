"""``Albu`` (MMDetection v2.28): run an `albumentations <https://albumentations.ai>`_ pipeline.

The transforms are the albumentations package's own (``albumentations.<type>(**args)``; nested
``transforms`` lists are built recursively). The results dict is renamed with ``keymap``
(default ``img -> image``, ``gt_masks -> masks``, ``gt_bboxes -> bboxes``), passed to
``albumentations.Compose(..., bbox_params=...)``, and renamed back. With
``bbox_params['filter_lost_elements']`` (mmdet's extension), the labels named in
``label_fields`` and the masks follow the boxes albumentations keeps. Masks come back as
:class:`BitmapMasks` (mmdet leaves a list there unless filtering); polygon masks are
rasterised first (mmdet raises); ``img_shape`` is set to the new image's shape (mmdet leaves
it stale after a crop or resize).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from detkit.registry import PIPELINES
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = ["Albu"]

_DEFAULT_KEYMAP = {"img": "image", "gt_masks": "masks", "gt_bboxes": "bboxes"}


def albu_builder(cfg: dict[str, Any]) -> Any:
    """An albumentations object from ``dict(type='Name' or a class, **args)``."""
    import albumentations  # imported on first use: it takes a second to import

    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"Albu: each transform must be a dict with a 'type', got {cfg!r}")
    args = dict(cfg)
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        if not hasattr(albumentations, obj_type):
            raise KeyError(f"Albu: albumentations {albumentations.__version__} has no {obj_type!r}")
        obj_cls = getattr(albumentations, obj_type)
    elif inspect.isclass(obj_type):
        obj_cls = obj_type
    else:
        raise TypeError(f"Albu: type must be a str or a class, got {type(obj_type).__name__}")
    if "transforms" in args:
        args["transforms"] = [albu_builder(t) for t in args["transforms"]]
    return obj_cls(**args)


@PIPELINES.register_module()
class Albu:
    """Albumentations augmentation.

    Args:
        transforms: albumentations transform configs, e.g.
            ``[dict(type='RandomBrightnessContrast', p=0.2), dict(type='ChannelShuffle', p=0.1)]``.
        bbox_params: ``dict(type='BboxParams', format='pascal_voc', label_fields=['gt_labels'],
            min_visibility=0.0, filter_lost_elements=True)``.
        keymap: ``{results key: albumentations key}``.
        update_pad_shape: set ``pad_shape`` to the new image shape.
        skip_img_without_anno: return None (the dataset draws another image) when filtering
            leaves no box.
    """

    def __init__(
        self,
        transforms: list[dict[str, Any]],
        bbox_params: dict[str, Any] | None = None,
        keymap: dict[str, str] | None = None,
        update_pad_shape: bool = False,
        skip_img_without_anno: bool = False,
    ) -> None:
        import albumentations

        transforms = copy.deepcopy(transforms)
        bbox_params = copy.deepcopy(bbox_params)
        self.transforms = transforms
        self.filter_lost_elements = False
        self.update_pad_shape = update_pad_shape
        self.skip_img_without_anno = skip_img_without_anno
        if (
            isinstance(bbox_params, dict)
            and "label_fields" in bbox_params
            and "filter_lost_elements" in bbox_params
        ):
            self.filter_lost_elements = True
            self.origin_label_fields = list(bbox_params["label_fields"])
            bbox_params["label_fields"] = ["idx_mapper"]
            del bbox_params["filter_lost_elements"]
        self.bbox_params = albu_builder(bbox_params) if bbox_params else None
        self.aug = albumentations.Compose(
            [albu_builder(t) for t in transforms], bbox_params=self.bbox_params
        )
        self.keymap_to_albu = dict(keymap) if keymap else dict(_DEFAULT_KEYMAP)
        self.keymap_back = {v: k for k, v in self.keymap_to_albu.items()}

    @staticmethod
    def mapper(d: dict[str, Any], keymap: dict[str, str]) -> dict[str, Any]:
        """``d`` with its keys renamed by ``keymap`` (others kept)."""
        return {keymap.get(k, k): v for k, v in d.items()}

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        results = self.mapper(results, self.keymap_to_albu)
        if "bboxes" in results:
            results["bboxes"] = np.asarray(results["bboxes"], dtype=np.float32).reshape(-1, 4)
            if self.filter_lost_elements:
                results["idx_mapper"] = np.arange(len(results["bboxes"]))
        mask_type = None
        if "masks" in results:
            masks = results["masks"]
            mask_type = type(masks)
            if isinstance(masks, PolygonMasks):
                masks = masks.to_bitmap()
            results["masks"] = [m for m in masks.masks]
        results = self.aug(**results)
        image = results["image"]
        if "bboxes" in results:
            results["bboxes"] = np.asarray(results["bboxes"], dtype=np.float32).reshape(-1, 4)
            if self.filter_lost_elements:
                keep = np.asarray(results["idx_mapper"], dtype=np.int64)
                for label in self.origin_label_fields:
                    results[label] = np.asarray(results[label])[keep]
                if "masks" in results:
                    results["masks"] = [results["masks"][i] for i in keep]
                if not len(keep) and self.skip_img_without_anno:
                    return None
                results.pop("idx_mapper")
        if mask_type is not None:
            masks = [np.asarray(m, dtype=np.uint8) for m in results["masks"]]
            results["masks"] = BitmapMasks(masks, image.shape[0], image.shape[1])
        if "gt_labels" in results:
            results["gt_labels"] = np.asarray(results["gt_labels"]).astype(np.int64)
        results = self.mapper(results, self.keymap_back)
        results["img_shape"] = results["img"].shape if "img" in results else image.shape
        if self.update_pad_shape:
            results["pad_shape"] = image.shape
        return results

    def __repr__(self) -> str:
        return f"Albu(transforms={self.transforms})"
