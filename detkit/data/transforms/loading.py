"""``LoadImageFromFile`` and ``LoadAnnotations`` (MMDetection v2 semantics, section 6.1-6.2).

Images are decoded with OpenCV (as mmcv does) to ``(H, W, 3)`` uint8 **BGR** arrays (mmcv's
default channel order); boxes are ``[N, 4]`` float32 xyxy absolute pixels; masks become
``BitmapMasks``
(``poly2mask=True``: polygons, compressed and uncompressed RLE) or ``PolygonMasks``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

from detkit.image_io import read_image
from detkit.registry import PIPELINES
from detkit.structures import BitmapMasks, Instances, PolygonMasks, check_boxes, empty_boxes

__all__ = ["LoadImageFromFile", "LoadAnnotations", "read_image", "disk_file_client_args"]


def disk_file_client_args(file_client_args: dict | None, where: str) -> dict:
    """A copy of mmcv's ``file_client_args`` (default ``dict(backend='disk')``).

    Raises:
        TypeError: not a dict.
        ValueError: a backend other than ``'disk'`` (the only one detkit has), naming ``where``.
    """
    if file_client_args is None:
        return {"backend": "disk"}
    if not isinstance(file_client_args, dict):
        raise TypeError(
            f"{where}: file_client_args must be a dict such as dict(backend='disk'), "
            f"got {type(file_client_args).__name__}"
        )
    backend = file_client_args.get("backend", "disk")
    if backend != "disk":
        raise ValueError(
            f"{where}: file_client_args backend {backend!r} is not supported (only 'disk')"
        )
    return dict(file_client_args)


@PIPELINES.register_module()
class LoadImageFromFile:
    """Load ``join(img_prefix, img_info['filename'])``.

    Sets ``filename``, ``ori_filename``, ``img`` (``(H, W, 3)`` uint8 BGR, or float32 with
    ``to_float32``), ``img_shape``, ``ori_shape`` and ``img_fields = ['img']``.
    ``file_client_args`` is mmcv's (default ``dict(backend='disk')``, the only backend).
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = "color",
        channel_order: str = "bgr",
        file_client_args: dict | None = None,
    ) -> None:
        self.file_client_args = disk_file_client_args(file_client_args, type(self).__name__)
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        filename = results["img_info"]["filename"]
        prefix = results.get("img_prefix")
        path = os.path.join(prefix, filename) if prefix is not None else filename
        img = read_image(path, self.color_type, self.channel_order)
        _check_recorded_size(results["img_info"], img.shape, path)
        if self.to_float32:
            img = img.astype(np.float32)
        results["filename"] = path
        results["ori_filename"] = filename
        results["img"] = img
        results["img_shape"] = img.shape
        results["ori_shape"] = img.shape
        results["img_fields"] = ["img"]
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(to_float32={self.to_float32}, color_type={self.color_type!r}, "
            f"channel_order={self.channel_order!r}, file_client_args={self.file_client_args})"
        )


def _check_recorded_size(img_info: dict[str, Any], shape: tuple[int, ...], path: str) -> None:
    """The decoded ``(H, W)`` must be the record's ``height``/``width`` (boxes and masks are in
    those pixels); the swapped size is accepted (EXIF rotation applied by the decoder)."""
    width, height = img_info.get("width"), img_info.get("height")
    if width is None or height is None:
        return
    if (shape[0], shape[1]) not in ((height, width), (width, height)):
        raise ValueError(
            f"image file {path} decodes to {shape[1]}x{shape[0]} (width x height) but its "
            f"annotation record says {width}x{height}: the file was replaced or the annotations "
            "are for another image size"
        )


def _ann_to_bitmap(segm: Any, height: int, width: int, where: str) -> np.ndarray:
    """One instance's COCO segmentation (polygon list, uncompressed or compressed RLE) -> ``(H,
    W)`` uint8."""
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    elif isinstance(segm, dict) and isinstance(segm.get("counts"), list):
        rle = mask_utils.frPyObjects(segm, height, width)
    elif isinstance(segm, dict) and "counts" in segm:
        rle = segm
    else:
        raise ValueError(
            f"{where}: segmentation must be a polygon list or an RLE dict, got "
            f"{type(segm).__name__}"
        )
    return mask_utils.decode(rle)


def _ann_to_polygons(segm: Any, where: str) -> list[np.ndarray]:
    if not isinstance(segm, list):
        raise ValueError(
            f"{where}: poly2mask=False needs polygon segmentations, got an RLE "
            "(Cityscapes annotations are RLE: use poly2mask=True)"
        )
    return [np.asarray(p, dtype=np.float64) for p in segm if len(p) % 2 == 0 and len(p) >= 6]


@PIPELINES.register_module()
class LoadAnnotations:
    """Copy ``ann_info`` into the results dict as ``gt_bboxes`` (``[N, 4]`` float32 xyxy),
    ``gt_bboxes_ignore``, ``gt_labels`` (``[N]`` int64), ``gt_masks`` (``BitmapMasks`` or
    ``PolygonMasks``, using ``img_info['height'/'width']``) and ``gt_semantic_seg``.

    Boxes, labels and masks are gathered in an :class:`~detkit.structures.Instances` so they
    are checked to be of equal length before they reach the dict.
    """

    def __init__(
        self,
        with_bbox: bool = True,
        with_label: bool = True,
        with_mask: bool = False,
        with_seg: bool = False,
        poly2mask: bool = True,
        denorm_bbox: bool = False,
        file_client_args: dict | None = None,
    ) -> None:
        self.file_client_args = disk_file_client_args(file_client_args, type(self).__name__)
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_mask = with_mask
        self.with_seg = with_seg
        self.poly2mask = poly2mask
        self.denorm_bbox = denorm_bbox

    def _instances(self, results: dict[str, Any]) -> Instances:
        ann = results["ann_info"]
        img_info = results["img_info"]
        height, width = int(img_info["height"]), int(img_info["width"])
        where = f"annotations of {img_info.get('filename', '<image>')}"
        inst = Instances((height, width))
        if self.with_bbox:
            boxes = (
                np.array(ann["bboxes"], dtype=np.float32).reshape(-1, 4)
                if len(ann["bboxes"])
                else empty_boxes()
            )
            check_boxes(boxes, f"bboxes of {where}")
            if self.denorm_bbox and len(boxes):
                boxes = boxes * np.array([width, height, width, height], dtype=np.float32)
            inst.bboxes = boxes
        if self.with_label:
            inst.labels = np.array(ann["labels"], dtype=np.int64).reshape(-1)
        if self.with_mask:
            segms = ann["masks"]
            if self.poly2mask:
                bitmaps = [_ann_to_bitmap(s, height, width, where) for s in segms]
                inst.masks = BitmapMasks(bitmaps, height, width)
            else:
                inst.masks = PolygonMasks(
                    [_ann_to_polygons(s, where) for s in segms], height, width
                )
        return inst

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        try:
            inst = self._instances(results)
        except ValueError as exc:
            raise ValueError(f"{results['img_info'].get('filename', '<image>')}: {exc}") from exc
        ann = results["ann_info"]
        if self.with_bbox:
            ignore = ann.get("bboxes_ignore")
            if ignore is not None:
                results["gt_bboxes_ignore"] = np.array(ignore, dtype=np.float32).reshape(-1, 4)
                results.setdefault("bbox_fields", []).append("gt_bboxes_ignore")
            results["gt_bboxes"] = inst.bboxes
            results.setdefault("bbox_fields", []).append("gt_bboxes")
        if self.with_label:
            results["gt_labels"] = inst.labels
        if self.with_mask:
            results["gt_masks"] = inst.masks
            results.setdefault("mask_fields", []).append("gt_masks")
        if self.with_seg:
            seg_prefix = results.get("seg_prefix")
            seg_path = (
                os.path.join(seg_prefix, ann["seg_map"])
                if seg_prefix is not None
                else ann["seg_map"]
            )
            results["gt_semantic_seg"] = read_image(seg_path, color_type="unchanged").squeeze()
            results.setdefault("seg_fields", []).append("gt_semantic_seg")
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(with_bbox={self.with_bbox}, with_label={self.with_label}, "
            f"with_mask={self.with_mask}, with_seg={self.with_seg}, poly2mask={self.poly2mask}, "
            f"file_client_args={self.file_client_args})"
        )
