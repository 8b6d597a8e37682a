"""Typed containers used inside detkit: box helpers, masks, instances (per image or flat over
a batch), image metas, the neck's feature pyramid and the detector's results."""

from detkit.structures.boxes import (
    bbox2roi,
    bbox_flip,
    bbox_mapping,
    bbox_mapping_back,
    box_areas,
    check_boxes,
    clip_boxes,
    empty_boxes,
    flip_boxes,
    instances_to_rois,
    mask2bbox,
    roi2bbox,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from detkit.structures.data_container import DataContainer
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.image_meta import BatchGeometry, ImageMeta
from detkit.structures.instances import Instances
from detkit.structures.masks import BitmapMasks, PolygonMasks
from detkit.structures.overlaps import bbox_overlaps
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import MaskList, RoIMasks

__all__ = [
    "BatchGeometry",
    "BitmapMasks",
    "DataContainer",
    "DetectionResult",
    "FeaturePyramid",
    "ImageMeta",
    "Instances",
    "MaskList",
    "PolygonMasks",
    "RoIMasks",
    "bbox2roi",
    "bbox_flip",
    "bbox_mapping",
    "bbox_mapping_back",
    "bbox_overlaps",
    "box_areas",
    "check_boxes",
    "clip_boxes",
    "empty_boxes",
    "flip_boxes",
    "instances_to_rois",
    "mask2bbox",
    "roi2bbox",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
