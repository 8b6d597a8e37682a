"""Task modules: anchor generation, box coding, IoU, assignment, sampling and NMS."""

from detkit.models.task_modules.anchor_generator import AnchorGenerator
from detkit.models.task_modules.assign_result import AssignResult
from detkit.models.task_modules.assigner import MaxIoUAssigner
from detkit.models.task_modules.bbox_coder import DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from detkit.models.task_modules.builder import (
    build_anchor_generator,
    build_assigner,
    build_bbox_coder,
    build_iou_calculator,
    build_prior_generator,
    build_sampler,
)
from detkit.models.task_modules.iou_calculator import BboxOverlaps2D, bbox_overlaps
from detkit.models.task_modules.nms import (
    batched_nms,
    multiclass_nms,
    multiclass_nms_per_image,
    nms_per_image,
    nms_per_image_by_cfg,
    top_batched_nms,
)
from detkit.models.task_modules.sampler import RandomSampler, SamplingResult
from detkit.models.task_modules.samplers import (
    CombinedSampler,
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
)
from detkit.models.task_modules.soft_nms import batched_soft_nms, soft_nms

__all__ = [
    "AnchorGenerator",
    "build_anchor_generator",
    "build_assigner",
    "build_bbox_coder",
    "build_iou_calculator",
    "build_prior_generator",
    "build_sampler",
    "AssignResult",
    "MaxIoUAssigner",
    "DeltaXYWHBBoxCoder",
    "bbox2delta",
    "delta2bbox",
    "BboxOverlaps2D",
    "bbox_overlaps",
    "batched_nms",
    "batched_soft_nms",
    "multiclass_nms",
    "multiclass_nms_per_image",
    "nms_per_image",
    "nms_per_image_by_cfg",
    "soft_nms",
    "top_batched_nms",
    "RandomSampler",
    "SamplingResult",
    "CombinedSampler",
    "InstanceBalancedPosSampler",
    "IoUBalancedNegSampler",
]
