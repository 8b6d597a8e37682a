"""Non-maximum suppression: ``top_batched_nms`` (group-wise NMS keeping the ``max_num`` best
boxes, shared by the RPN, groups = levels, and the RoI heads, groups = classes),
``batched_nms_by_cfg`` (the same for a ``test_cfg`` ``nms`` dict: ``'nms'`` or ``'soft_nms'``),
``multiclass_nms`` (the RoI heads' class-wise NMS of scored boxes) and ``nms_top`` (one group,
for merging the proposals of test-time augmentations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torchvision.ops import batched_nms, nms

from detkit.models.task_modules.soft_nms import batched_soft_nms

__all__ = ["batched_nms_by_cfg", "multiclass_nms", "nms_top", "top_batched_nms"]


def top_batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    max_num: int,
) -> torch.Tensor:
    """``batched_nms(boxes, scores, idxs, iou_threshold)[:max_num]``, run on the best-scoring
    candidates only.

    Greedy NMS keeps a box when no kept box of its group with a higher score overlaps it by
    more than ``iou_threshold``, so which of the ``k`` best-scoring boxes survive depends on
    those ``k`` boxes alone. When they hold ``max_num`` survivors, those are the answer;
    otherwise ``k`` grows (×4) until they do or every box is in. With 100 000 candidate
    (box, class) pairs (``score_thr=0``) this runs NMS on a few hundred boxes.

    Args:
        boxes: ``[N, 4]`` xyxy. scores: ``[N]``. idxs: ``[N]`` int64 group (class) ids.
        max_num: ``<= 0`` keeps every survivor.

    Returns:
        int64 indices into ``boxes`` of the kept boxes, by decreasing score.
    """
    if max_num <= 0 or scores.numel() <= 4 * max_num:
        keep = batched_nms(boxes, scores, idxs, iou_threshold)
        return keep if max_num <= 0 else keep[:max_num]
    order = scores.argsort(descending=True, stable=True)
    k = 4 * max_num
    while True:
        cand = order[:k]
        keep = batched_nms(boxes[cand], scores[cand], idxs[cand], iou_threshold)
        if keep.numel() >= max_num or k >= order.numel():
            return cand[keep[:max_num]]
        k *= 4


def nms_top(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_num: int
) -> torch.Tensor:
    """Indices of the ``max_num`` best boxes ``[N, 4]`` (xyxy) that survive NMS over all of
    them (``torchvision.ops.nms`` in float32), by decreasing score."""
    return nms(boxes.float(), scores.float(), iou_threshold)[:max_num]


def batched_nms_by_cfg(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    nms_cfg: Mapping[str, Any],
    max_num: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-wise NMS as ``nms_cfg`` says: ``dict(type='nms', iou_threshold=...)`` or
    ``dict(type='soft_nms', ...)`` (:func:`~detkit.models.task_modules.soft_nms.batched_soft_nms`).

    Args:
        boxes: ``[N, 4]`` xyxy. scores: ``[N]``. idxs: ``[N]`` int64 group ids.
        max_num: keep at most this many (``<= 0``: all).

    Returns:
        int64 indices of the kept boxes ``[K]`` by decreasing score, and their scores ``[K]``
        after NMS (soft-NMS decays them; hard NMS leaves them).
    """
    nms_type = nms_cfg.get("type", "nms")
    if nms_type == "soft_nms":
        dets, keep = batched_soft_nms(boxes, scores, idxs, nms_cfg)
        if max_num > 0:
            dets, keep = dets[:max_num], keep[:max_num]
        return keep, dets[:, 4].to(scores.dtype)
    if nms_type != "nms":
        raise KeyError(f"nms type {nms_type!r} is not supported; use 'nms' or 'soft_nms'")
    keep = top_batched_nms(boxes, scores, idxs, nms_cfg["iou_threshold"], max_num)
    return keep, scores[keep]


def multiclass_nms(
    multi_bboxes: torch.Tensor,
    multi_scores: torch.Tensor,
    score_thr: float,
    nms_cfg: Mapping[str, Any],
    max_num: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-wise NMS (mmdet ``multiclass_nms``).

    Args:
        multi_bboxes: ``[N, 4]`` (class-agnostic) or ``[N, 4C]`` boxes.
        multi_scores: ``[N, C+1]`` softmax scores, last column background.
        score_thr: keep (box, class) pairs with score strictly above this.
        nms_cfg: ``dict(type='nms', iou_threshold=...)`` or ``dict(type='soft_nms', ...)``.
        max_num: keep at most this many after NMS (-1: all).

    Returns:
        dets ``[n, 5]`` ``[x1, y1, x2, y2, score]`` sorted by score (soft-NMS: the decayed
        scores), labels int64 ``[n]``.
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
    keep, kept_scores = batched_nms_by_cfg(bboxes.float(), scores.float(), labels, nms_cfg, max_num)
    return torch.cat([bboxes[keep], kept_scores[:, None].to(scores.dtype)], -1), labels[keep]
