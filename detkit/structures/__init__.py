"""Typed containers used inside detkit: boxes helpers, masks and per-image instances."""

from detkit.structures.boxes import (
    box_areas,
    check_boxes,
    clip_boxes,
    empty_boxes,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from detkit.structures.instances import Instances
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = [
    "BitmapMasks",
    "Instances",
    "PolygonMasks",
    "box_areas",
    "check_boxes",
    "clip_boxes",
    "empty_boxes",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
