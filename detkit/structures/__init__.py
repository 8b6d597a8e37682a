"""Typed containers used inside detkit: box helpers, masks, per-image instances, the batch's
ground truth, the neck's feature pyramid and the detector's results."""

from detkit.structures.boxes import (
    bbox2roi,
    bbox_mapping,
    bbox_mapping_back,
    box_areas,
    check_boxes,
    clip_boxes,
    empty_boxes,
    flip_boxes,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.ground_truth import GroundTruth
from detkit.structures.instances import Instances
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = [
    "BitmapMasks",
    "FeaturePyramid",
    "GroundTruth",
    "Instances",
    "PolygonMasks",
    "bbox2roi",
    "bbox_mapping",
    "bbox_mapping_back",
    "box_areas",
    "check_boxes",
    "clip_boxes",
    "empty_boxes",
    "flip_boxes",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
