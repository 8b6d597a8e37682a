"""Test-time augmentation helpers (MMDetection v2 ``bbox_mapping``/``merge_aug_*``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchvision.ops import nms

from detkit.models.dense_heads.rpn_head import proposal_settings

__all__ = ["bbox_flip", "bbox_mapping", "bbox_mapping_back", "merge_aug_bboxes",
           "merge_aug_masks", "merge_aug_proposals"]


def bbox_flip(bboxes: torch.Tensor, img_shape: Sequence[int],
              direction: str = "horizontal") -> torch.Tensor:
    """Flip boxes ``[N, 4k]`` inside an image of ``img_shape`` (H, W)."""
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(f"flip direction must be horizontal/vertical/diagonal, got {direction!r}")
    flipped = bboxes.clone()
    h, w = img_shape[0], img_shape[1]
    if direction in ("horizontal", "diagonal"):
        flipped[..., 0::4] = w - bboxes[..., 2::4]
        flipped[..., 2::4] = w - bboxes[..., 0::4]
    if direction in ("vertical", "diagonal"):
        flipped[..., 1::4] = h - bboxes[..., 3::4]
        flipped[..., 3::4] = h - bboxes[..., 1::4]
    return flipped


def bbox_mapping(bboxes: torch.Tensor, img_shape: Sequence[int], scale_factor: Any,
                 flip: bool, flip_direction: str = "horizontal") -> torch.Tensor:
    """Original-image boxes → boxes of an augmented (scaled, maybe flipped) image."""
    new = bboxes * bboxes.new_tensor(scale_factor)
    return bbox_flip(new, img_shape, flip_direction) if flip else new


def bbox_mapping_back(bboxes: torch.Tensor, img_shape: Sequence[int], scale_factor: Any,
                      flip: bool, flip_direction: str = "horizontal") -> torch.Tensor:
    """Boxes ``[N, 4k]`` of an augmented image → original-image boxes."""
    new = bbox_flip(bboxes, img_shape, flip_direction) if flip else bboxes
    return (new.reshape(-1, 4) / new.new_tensor(scale_factor)).view(bboxes.shape)


def _aug_geometry(meta: Mapping[str, Any]) -> tuple[Any, Any, bool, str]:
    return (meta["img_shape"], meta["scale_factor"], bool(meta.get("flip", False)),
            meta.get("flip_direction") or "horizontal")


def merge_aug_bboxes(aug_bboxes: Sequence[torch.Tensor], aug_scores: Sequence[torch.Tensor],
                     img_metas: Sequence[Sequence[Mapping[str, Any]]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Map each augmentation's boxes back to the original image and average boxes and scores."""
    recovered = [bbox_mapping_back(b, *_aug_geometry(meta[0]))
                 for b, meta in zip(aug_bboxes, img_metas)]
    return torch.stack(recovered).mean(dim=0), torch.stack(list(aug_scores)).mean(dim=0)


def merge_aug_masks(aug_masks: Sequence[torch.Tensor],
                    img_metas: Sequence[Mapping[str, Any]]) -> torch.Tensor:
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


def merge_aug_proposals(aug_proposals: Sequence[torch.Tensor],
                        img_metas: Sequence[Mapping[str, Any]],
                        cfg: Mapping[str, Any]) -> torch.Tensor:
    """Map proposals ``[N_a, 5]`` of every augmentation back, NMS them together and keep the
    best ``max_per_img`` (see :func:`proposal_settings` for the accepted spellings)."""
    recovered = []
    for proposals, meta in zip(aug_proposals, img_metas):
        p = proposals.clone()
        p[:, :4] = bbox_mapping_back(p[:, :4], *_aug_geometry(meta))
        recovered.append(p)
    merged = torch.cat(recovered, dim=0)
    iou_threshold, max_per_img = proposal_settings(cfg)
    keep = nms(merged[:, :4].float(), merged[:, 4].float(), iou_threshold)
    return merged[keep[:max_per_img]]
