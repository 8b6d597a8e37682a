"""``top_batched_nms``: group-wise NMS keeping the ``max_num`` best boxes, shared by the RPN
(groups = levels) and the RoI heads (groups = classes)."""

from __future__ import annotations

import torch
from torchvision.ops import batched_nms

__all__ = ["top_batched_nms"]


def top_batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                    iou_threshold: float, max_num: int) -> torch.Tensor:
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
