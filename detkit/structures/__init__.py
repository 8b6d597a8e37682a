"""Typed containers used inside detkit: boxes helpers, masks and per-image instances."""

from detkit.structures.boxes import (
    bbox2roi,
    bbox_flip,
    bbox_mapping,
    bbox_mapping_back,
    box_areas,
    check_boxes,
    clip_boxes,
    empty_boxes,
    mask2bbox,
    roi2bbox,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from detkit.structures.data_container import DataContainer
from detkit.structures.instances import Instances
from detkit.structures.masks import BitmapMasks, PolygonMasks
from detkit.structures.overlaps import bbox_overlaps

__all__ = [
    "BitmapMasks",
    "DataContainer",
    "Instances",
    "PolygonMasks",
    "bbox2roi",
    "bbox_flip",
    "bbox_mapping",
    "bbox_mapping_back",
    "bbox_overlaps",
    "box_areas",
    "check_boxes",
    "clip_boxes",
    "empty_boxes",
    "mask2bbox",
    "roi2bbox",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
