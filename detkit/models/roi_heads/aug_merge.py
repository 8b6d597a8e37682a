"""Merging the predictions of test-time augmentations (MMDetection v2 ``merge_aug_*``): each
augmentation's boxes, mask probabilities or proposals are mapped back to the original image
(``detkit.structures.boxes.bbox_mapping_back``) and averaged or suppressed together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from detkit.models.dense_heads.rpn_head import proposal_settings
from detkit.models.task_modules.nms import nms_top
from detkit.structures.boxes import bbox_mapping_back

__all__ = ["aug_geometry", "merge_aug_bboxes", "merge_aug_masks", "merge_aug_proposals"]


def aug_geometry(meta: Mapping[str, Any]) -> tuple[Any, Any, bool, str]:
    """``(img_shape, scale_factor, flip, flip_direction)`` of one augmentation's meta."""
    return (
        meta["img_shape"],
        meta["scale_factor"],
        bool(meta.get("flip", False)),
        meta.get("flip_direction") or "horizontal",
    )


def merge_aug_bboxes(
    aug_bboxes: Sequence[torch.Tensor],
    aug_scores: Sequence[torch.Tensor],
    img_metas: Sequence[Sequence[Mapping[str, Any]]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map each augmentation's boxes back to the original image and average boxes and scores."""
    recovered = [
        bbox_mapping_back(b, *aug_geometry(meta[0])) for b, meta in zip(aug_bboxes, img_metas)
    ]
    return torch.stack(recovered).mean(dim=0), torch.stack(list(aug_scores)).mean(dim=0)


def merge_aug_masks(
    aug_masks: Sequence[torch.Tensor], img_metas: Sequence[Mapping[str, Any]]
) -> torch.Tensor:
    """Average mask probabilities ``[N, C, m, m]`` over augmentations / stages, un-flipping
    the flipped ones."""
    recovered = []
    for mask, meta in zip(aug_masks, img_metas):
        if meta.get("flip", False):
            direction = meta.get("flip_direction") or "horizontal"
            dims = {"horizontal": [3], "vertical": [2], "diagonal": [2, 3]}[direction]
            mask = mask.flip(dims)
        recovered.append(mask)
    return torch.stack(recovered).mean(dim=0)


def merge_aug_proposals(
    aug_proposals: Sequence[torch.Tensor],
    img_metas: Sequence[Mapping[str, Any]],
    cfg: Mapping[str, Any],
) -> torch.Tensor:
    """Map proposals ``[N_a, 5]`` of every augmentation back, NMS them together and keep the
    best ``max_per_img`` (see :func:`proposal_settings` for the accepted spellings)."""
    recovered = []
    for proposals, meta in zip(aug_proposals, img_metas):
        p = proposals.clone()
        p[:, :4] = bbox_mapping_back(p[:, :4], *aug_geometry(meta))
        recovered.append(p)
    merged = torch.cat(recovered, dim=0)
    iou_threshold, max_per_img = proposal_settings(cfg)
    return merged[nms_top(merged[:, :4], merged[:, 4], iou_threshold, max_per_img)]
