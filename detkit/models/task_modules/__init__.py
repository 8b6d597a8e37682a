"""Task modules: anchor generation, box coding, IoU, assignment, sampling and NMS."""

from detkit.models.task_modules.anchor_generator import AnchorGenerator
from detkit.models.task_modules.assign_result import AssignResult
from detkit.models.task_modules.assigner import MaxIoUAssigner
from detkit.models.task_modules.bbox_coder import DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from detkit.models.task_modules.iou_calculator import BboxOverlaps2D, bbox_overlaps
from detkit.models.task_modules.nms import (
    batched_nms,
    multiclass_nms,
    multiclass_nms_per_image,
    nms_per_image,
    top_batched_nms,
)
from detkit.models.task_modules.sampler import RandomSampler, SamplingResult

__all__ = [
    "AnchorGenerator",
    "AssignResult",
    "MaxIoUAssigner",
    "DeltaXYWHBBoxCoder",
    "bbox2delta",
    "delta2bbox",
    "BboxOverlaps2D",
    "bbox_overlaps",
    "batched_nms",
    "multiclass_nms",
    "multiclass_nms_per_image",
    "nms_per_image",
    "top_batched_nms",
    "RandomSampler",
    "SamplingResult",
]
