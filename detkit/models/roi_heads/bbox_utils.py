"""Small RoI-head helpers: RoI packing and class-wise NMS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from detkit.models.task_modules import top_batched_nms

__all__ = ["bbox2roi", "multiclass_nms"]


def bbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate per-image boxes ``[N_i, 4+]`` into RoIs ``[sum N_i, 5]``
    ``[batch_idx, x1, y1, x2, y2]``."""
    rois = []
    for img_id, bboxes in enumerate(bbox_list):
        if bboxes.size(0) > 0:
            inds = bboxes.new_full((bboxes.size(0), 1), img_id)
            rois.append(torch.cat([inds, bboxes[:, :4]], dim=-1))
        else:
            rois.append(bboxes.new_zeros((0, 5)))
    return torch.cat(rois, 0)


def multiclass_nms(multi_bboxes: torch.Tensor, multi_scores: torch.Tensor, score_thr: float,
                   nms_cfg: Mapping[str, Any], max_num: int = -1
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-wise NMS (mmdet ``multiclass_nms``).

    Args:
        multi_bboxes: ``[N, 4]`` (class-agnostic) or ``[N, 4C]`` boxes.
        multi_scores: ``[N, C+1]`` softmax scores, last column background.
        score_thr: keep (box, class) pairs with score strictly above this.
        nms_cfg: ``dict(type='nms', iou_threshold=...)``.
        max_num: keep at most this many after NMS (-1: all).

    Returns:
        dets ``[n, 5]`` ``[x1, y1, x2, y2, score]`` sorted by score, labels int64 ``[n]``.
    """
    num_classes = multi_scores.size(1) - 1
    if multi_bboxes.shape[1] > 4:
        bboxes = multi_bboxes.view(multi_scores.size(0), -1, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), num_classes, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device)
    labels = labels.view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = torch.nonzero(scores > score_thr, as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    if bboxes.numel() == 0:
        return torch.cat([bboxes, scores[:, None]], -1), labels
    nms_type = nms_cfg.get("type", "nms")
    if nms_type != "nms":
        raise KeyError(f"nms type {nms_type!r} is not supported; use 'nms'")
    keep = top_batched_nms(bboxes.float(), scores.float(), labels, nms_cfg["iou_threshold"],
                           max_num)
    return torch.cat([bboxes[keep], scores[keep, None]], -1), labels[keep]
