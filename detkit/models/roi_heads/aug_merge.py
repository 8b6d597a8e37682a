"""Test-time augmentation of the RoI heads (MMDetection v2's ``aug_test``): each view's boxes,
mask probabilities or proposals are mapped back to the original image
(``detkit.structures.boxes.bbox_mapping_back``) and averaged or suppressed together;
:func:`predict_aug` runs a head's stages on every view and merges them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from detkit.models.dense_heads.rpn_head import proposal_settings
from detkit.models.task_modules.nms import multiclass_nms, nms_top
from detkit.structures.boxes import bbox_mapping, bbox_mapping_back, instances_to_rois
from detkit.structures.detections import roi_masks
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.image_meta import BatchGeometry, ImageMeta
from detkit.structures.instances import Instances
from detkit.structures.results import DetectionResult

if TYPE_CHECKING:
    from detkit.models.roi_heads.base_roi_head import RoIHeadBase

__all__ = [
    "aug_geometry",
    "merge_aug_bboxes",
    "merge_aug_masks",
    "merge_aug_proposals",
    "predict_aug",
]

_FLIP_DIMS = {"horizontal": [3], "vertical": [2], "diagonal": [2, 3]}


def aug_geometry(meta: ImageMeta) -> tuple[tuple[int, int], Any, bool, str]:
    """``(img_shape, scale_factor, flip, flip_direction)`` of one view."""
    return meta.img_shape, meta.scale_factor, meta.flip, meta.flip_direction or "horizontal"


def merge_aug_bboxes(
    aug_bboxes: Sequence[torch.Tensor],
    aug_scores: Sequence[torch.Tensor],
    metas: Sequence[ImageMeta],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map each view's boxes ``[K, 4k]`` back to the original image and average boxes and
    scores ``[K, C+1]`` over the views."""
    recovered = [bbox_mapping_back(b, *aug_geometry(meta)) for b, meta in zip(aug_bboxes, metas)]
    return torch.stack(recovered).mean(dim=0), torch.stack(list(aug_scores)).mean(dim=0)


def merge_aug_masks(aug_masks: Sequence[torch.Tensor], metas: Sequence[ImageMeta]) -> torch.Tensor:
    """Average mask probabilities ``[N, C, m, m]`` over views / stages, un-flipping the
    flipped ones."""
    recovered = [
        mask.flip(_FLIP_DIMS[meta.flip_direction or "horizontal"]) if meta.flip else mask
        for mask, meta in zip(aug_masks, metas)
    ]
    return torch.stack(recovered).mean(dim=0)


def merge_aug_proposals(
    aug_proposals: Sequence[Instances], metas: Sequence[ImageMeta], cfg: Mapping[str, Any]
) -> Instances:
    """Map each view's proposals (``boxes``, ``scores``) back, NMS them together and keep the
    best ``max_per_img`` (see :func:`proposal_settings` for the accepted spellings)."""
    boxes = torch.cat(
        [bbox_mapping_back(p.boxes, *aug_geometry(m)) for p, m in zip(aug_proposals, metas)]
    )
    scores = torch.cat([p.scores for p in aug_proposals])
    iou_threshold, max_per_img = proposal_settings(cfg)
    keep = nms_top(boxes, scores, iou_threshold, max_per_img)
    return Instances(boxes=boxes[keep], scores=scores[keep])


def predict_aug(
    head: RoIHeadBase,
    feats: Sequence[FeaturePyramid],
    proposals: Instances,
    metas: Sequence[ImageMeta],
    rescale: bool,
) -> list[DetectionResult]:
    """Merged detections of one image over its views (mmdet ``aug_test``).

    ``proposals`` (original pixels) are mapped into each view, run through ``head``'s stages
    there and decoded; boxes and scores are averaged over the views in original pixels, then
    class-wise NMS. Masks: every stage's probabilities of every view at the merged boxes,
    un-flipped and averaged, on the original canvas. Boxes are in original pixels (× the
    first view's ``scale_factor`` without ``rescale``).
    """
    last_head = head.bbox_branch(head.num_stages - 1)[1]
    aug_bboxes, aug_scores = [], []
    for x, meta in zip(feats, metas):
        boxes = bbox_mapping(proposals.boxes, *aug_geometry(meta))
        view = Instances(boxes=boxes, image_index=boxes.new_zeros(boxes.size(0), dtype=torch.long))
        geometry = BatchGeometry.of([meta], rescale=False, device=boxes.device)
        stages = head._forward_box(x, view, geometry)
        assert stages.rois is not None and stages.cls_score is not None
        assert stages.bbox_pred is not None
        index = stages.rois.image_index
        decoded, scores = last_head.predict_boxes(
            stages.rois.boxes,
            stages.cls_score,
            stages.bbox_pred,
            geometry.img_shape[index],
            geometry.scale_factor[index],
        )
        aug_bboxes.append(decoded)
        aug_scores.append(scores)
    bboxes, scores = merge_aug_bboxes(aug_bboxes, aug_scores, metas)
    cfg = head.test_cfg
    dets, labels = multiclass_nms(bboxes, scores, cfg["score_thr"], cfg["nms"], cfg["max_per_img"])
    boxes = dets[:, :4]
    out_boxes = boxes if rescale else boxes * boxes.new_tensor(metas[0].scale_factor)
    masks = None
    if head.with_mask:
        probs, prob_metas = [], []
        for x, meta in zip(feats, metas):
            mapped = bbox_mapping(boxes, *aug_geometry(meta))
            rois = Instances(boxes=mapped, image_index=labels.new_zeros(labels.shape))
            for prob in head.stage_mask_probs(x, instances_to_rois(rois), labels):
                probs.append(prob)
                prob_metas.append(meta)
        merged = merge_aug_masks(probs, prob_metas)
        masks = roi_masks(merged, boxes, metas[0].ori_shape, cfg["mask_thr_binary"])
    return [DetectionResult(out_boxes, dets[:, 4], labels, masks)]
