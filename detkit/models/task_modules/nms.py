"""Non-maximum suppression, defined once for eager inference and exported graphs.

- :func:`batched_nms`: group-wise NMS (groups never suppress each other).
- :func:`nms_per_image`: group-wise NMS of a flat batch keeping each image's ``max_num`` best
  survivors; the RPN's (groups = levels) and the RoI heads' (groups = classes).
- :func:`nms_per_image_by_cfg`: :func:`nms_per_image` as a ``test_cfg`` ``nms`` dict says,
  ``'nms'`` or ``'soft_nms'`` (mmcv's soft-NMS, :mod:`~detkit.models.task_modules.soft_nms`,
  which decays scores; eager only).
- :func:`multiclass_nms_per_image`: the RoI heads' class-wise NMS of scored boxes of a batch.
- :func:`multiclass_nms`, :func:`top_batched_nms`: the one-image forms (MMDetection v2's
  ``multiclass_nms`` and detkit's earlier call); :func:`nms_top`: one group, for merging the
  proposals of test-time augmentations.

Tensor-only: no Python branch on a count or a value, so ``torch.export`` traces them with
symbolic batch sizes and detection counts. Only two choices depend on the mode: eager NMS is
torchvision's ``batched_nms`` (per-group loops on large inputs) where a graph offsets each
group's boxes (one ``nms``, ONNX's ``NonMaxSuppression``); and the candidate budget (below).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torchvision.ops

from detkit.models.task_modules.soft_nms import batched_soft_nms
from detkit.structures.instances import Instances

__all__ = [
    "batched_nms",
    "multiclass_nms",
    "multiclass_nms_per_image",
    "nms_per_image",
    "nms_per_image_by_cfg",
    "nms_top",
    "rank_in_image",
    "top_batched_nms",
]

# candidates per kept box that an exported graph runs NMS on (eager starts with 4 and grows)
GRAPH_CANDIDATES = 16


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Indices of the boxes ``[N, 4]`` (xyxy, >= 0) that survive NMS within their group
    (``groups`` int64 ``[N]``), by decreasing score. Zero boxes give zero indices."""
    if not torch.compiler.is_exporting():
        keep: torch.Tensor = torchvision.ops.batched_nms(boxes, scores, groups, iou_threshold)
        return keep
    # torchvision's coordinate offsets, with a zero that keeps the max defined on no boxes
    top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = groups.to(boxes.dtype) * (top + 1)
    kept: torch.Tensor = torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)
    return kept


def rank_in_image(image_index: torch.Tensor, num_images: Any) -> torch.Tensor:
    """int64 ``[N]``: how many earlier rows belong to the same image (rows in priority order,
    ``image_index`` int64 ``[N]`` in ``[0, num_images)``)."""
    images = torch.arange(num_images, device=image_index.device)
    onehot = (image_index[:, None] == images[None, :]).long()
    return (onehot.cumsum(0) * onehot).sum(1) - 1


def _budgets(max_num: int) -> Iterator[int]:
    """Candidates per image to run NMS on: a graph has one fixed budget; eager grows it ×4
    until each image has ``max_num`` survivors or all its candidates are in."""
    if torch.compiler.is_exporting():
        yield GRAPH_CANDIDATES * max_num
        return
    budget = 4 * max_num
    while True:
        yield budget
        budget *= 4


def nms_per_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    num_groups: int,
    image_index: torch.Tensor,
    num_images: Any,
    iou_threshold: float,
    max_num: int,
) -> torch.Tensor:
    """Group-wise NMS of a flat batch, each image's ``max_num`` best survivors.

    Greedy NMS keeps a box when no kept box of its group with a higher score overlaps it by
    more than ``iou_threshold``, so which of an image's ``k`` best boxes survive depends on
    those ``k`` boxes alone: NMS runs on each image's best ``k`` candidates, and eager code
    grows ``k`` until every image has ``max_num`` survivors or all its candidates are in
    (with 100 000 (box, class) pairs at ``score_thr=0`` this is NMS on a few hundred boxes).
    An exported graph runs one budget, ``GRAPH_CANDIDATES × max_num`` per image: the same
    answer whenever those hold ``max_num`` survivors.

    Args:
        boxes: ``[N, 4]`` xyxy. scores: ``[N]``. groups: int64 ``[N]`` in
            ``[0, num_groups)`` (levels, classes): boxes of other groups or images never
            suppress each other.
        image_index: int64 ``[N]`` in ``[0, num_images)``.
        max_num: survivors kept per image (``<= 0``: all).

    Returns:
        int64 indices into ``boxes`` by decreasing score (images interleaved).
    """
    ids = groups + image_index * num_groups
    if max_num <= 0:
        return batched_nms(boxes, scores, ids, iou_threshold)
    order = scores.argsort(descending=True)
    rank = rank_in_image(image_index[order], num_images)
    for budget in _budgets(max_num):
        cand = order[rank < budget]
        keep = cand[batched_nms(boxes[cand], scores[cand], ids[cand], iou_threshold)]
        kept_rank = rank_in_image(image_index[keep], num_images)
        if torch.compiler.is_exporting() or _enough(image_index, keep, num_images, budget, max_num):
            return keep[kept_rank < max_num]
    raise AssertionError("unreachable")


def _enough(
    image_index: torch.Tensor, keep: torch.Tensor, num_images: int, budget: int, max_num: int
) -> bool:
    """Eager check of a budget: every image has ``max_num`` survivors among its candidates or
    had no more than ``budget`` candidates."""
    candidates = torch.bincount(image_index, minlength=num_images)
    survivors = torch.bincount(image_index[keep], minlength=num_images)
    return bool(((survivors >= max_num) | (candidates <= budget)).all())


def nms_per_image_by_cfg(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    num_groups: int,
    image_index: torch.Tensor,
    num_images: Any,
    nms_cfg: Mapping[str, Any],
    max_num: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nms_per_image` as ``nms_cfg`` says: ``dict(type='nms', iou_threshold=...)``, or
    ``dict(type='soft_nms', ...)`` (mmcv's ``batched_nms`` with soft-NMS: the kept scores
    decay). Arguments as :func:`nms_per_image`.

    Returns:
        int64 indices into ``boxes`` by decreasing (kept) score and the kept scores ``[K]``.

    Raises:
        KeyError: another NMS type.
        NotImplementedError: soft-NMS while exporting (it runs mmcv's sequential operator).
    """
    nms_type = nms_cfg.get("type", "nms")
    if nms_type == "nms":
        keep = nms_per_image(
            boxes,
            scores,
            groups,
            num_groups,
            image_index,
            num_images,
            nms_cfg["iou_threshold"],
            max_num,
        )
        return keep, scores[keep]
    if nms_type != "soft_nms":
        raise KeyError(f"nms type {nms_type!r} is not supported; use 'nms' or 'soft_nms'")
    if torch.compiler.is_exporting():
        raise NotImplementedError("soft_nms cannot be exported; use nms=dict(type='nms', ...)")
    kept, kept_scores = [], []
    for image in range(int(num_images)):
        rows = torch.nonzero(image_index == image).squeeze(1)
        dets, keep = batched_soft_nms(boxes[rows], scores[rows], groups[rows], nms_cfg)
        if max_num > 0:
            dets, keep = dets[:max_num], keep[:max_num]
        kept.append(rows[keep])
        kept_scores.append(dets[:, 4].to(scores.dtype))
    keep, kept_score = torch.cat(kept), torch.cat(kept_scores)
    order = kept_score.argsort(descending=True, stable=True)
    return keep[order], kept_score[order]


def multiclass_nms_per_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_index: torch.Tensor,
    num_images: Any,
    score_thr: float,
    nms_cfg: Mapping[str, Any],
    max_num: int = -1,
) -> Instances:
    """Class-wise NMS of a flat batch (MMDetection v2's ``multiclass_nms`` per image).

    Args:
        boxes: ``[K, 4]`` (class-agnostic) or ``[K, 4C]`` boxes.
        scores: ``[K, C+1]`` softmax scores, last column background.
        image_index: int64 ``[K]``; num_images: B.
        score_thr: keep (box, class) pairs scoring strictly above this.
        nms_cfg: ``dict(type='nms', iou_threshold=...)`` or ``dict(type='soft_nms', ...)``.
        max_num: detections kept per image (-1: all).

    Returns:
        ``Instances`` with ``boxes`` ``[n, 4]``, ``scores`` ``[n]`` (soft-NMS: decayed),
        ``labels`` int64 ``[n]`` and ``image_index`` ``[n]``, by decreasing score (each image's
        rows in score order).
    """
    num_rows, num_classes = scores.size(0), scores.size(1) - 1
    if boxes.size(1) > 4:
        boxes = boxes.reshape(num_rows, num_classes, 4)
    else:
        boxes = boxes[:, None].expand(num_rows, num_classes, 4)
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device)
    labels = labels.view(1, -1).expand(num_rows, num_classes).reshape(-1)
    images = image_index[:, None].expand(num_rows, num_classes).reshape(-1)
    boxes, flat_scores = boxes.reshape(-1, 4), scores[:, :-1].reshape(-1)
    inds = torch.nonzero(flat_scores > score_thr).squeeze(1)
    boxes, flat_scores, labels, images = boxes[inds], flat_scores[inds], labels[inds], images[inds]
    keep, kept_scores = nms_per_image_by_cfg(
        boxes.float(),
        flat_scores.float(),
        labels,
        num_classes,
        images,
        num_images,
        nms_cfg,
        max_num,
    )
    return Instances(
        boxes=boxes[keep],
        scores=kept_scores.to(flat_scores.dtype),
        labels=labels[keep],
        image_index=images[keep],
    )


def multiclass_nms(
    multi_bboxes: torch.Tensor,
    multi_scores: torch.Tensor,
    score_thr: float,
    nms_cfg: Mapping[str, Any],
    max_num: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-wise NMS of one image (MMDetection v2's ``multiclass_nms``): boxes ``[N, 4]`` or
    ``[N, 4C]``, softmax scores ``[N, C+1]`` → dets ``[n, 5]`` ``[x1, y1, x2, y2, score]``
    by decreasing score (soft-NMS: the decayed scores) and labels int64 ``[n]``."""
    image_index = multi_scores.new_zeros(multi_scores.size(0), dtype=torch.long)
    dets = multiclass_nms_per_image(
        multi_bboxes, multi_scores, image_index, 1, score_thr, nms_cfg, max_num
    )
    return torch.cat([dets.boxes, dets.scores[:, None]], -1), dets.labels


def top_batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    max_num: int,
) -> torch.Tensor:
    """``torchvision.ops.batched_nms(boxes, scores, idxs, iou_threshold)[:max_num]`` of one
    image (``max_num <= 0``: all survivors), as :func:`nms_per_image` computes it."""
    num_groups = int(idxs.max()) + 1 if idxs.numel() else 1
    image_index = idxs.new_zeros(idxs.shape)
    return nms_per_image(boxes, scores, idxs, num_groups, image_index, 1, iou_threshold, max_num)


def nms_top(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_num: int
) -> torch.Tensor:
    """Indices of the ``max_num`` best boxes ``[N, 4]`` (xyxy) that survive NMS over all of
    them (``torchvision.ops.nms`` in float32), by decreasing score."""
    keep: torch.Tensor = torchvision.ops.nms(boxes.float(), scores.float(), iou_threshold)
    return keep[:max_num]
