"""Soft-NMS (Bodla et al., ICCV 2017) with mmcv's semantics: ``nms=dict(type='soft_nms', ...)``.

``soft_nms`` follows mmcv's CPU operator (``mmcv/ops/csrc/pytorch/cpu/nms.cpp``,
``softnms_cpu``) step by step, in float32: repeatedly take the highest-scoring remaining box
(the first one on ties, in the operator's array order), then multiply every other remaining
score by a weight of its IoU ``o`` with that box:

- ``'naive'``: 0 if ``o >= iou_threshold`` else 1 (hard NMS);
- ``'linear'``: ``1 - o`` if ``o >= iou_threshold`` else 1;
- ``'gaussian'``: ``exp(-o² / sigma)`` (mmcv divides by ``sigma``, not ``2 sigma²``).

A box whose score falls below ``min_score`` is dropped (the operator swaps the last box into
its place; the same swaps are made here, so ties resolve as in mmcv). Boxes come out in the
order they were taken, i.e. by decreasing final score, with those scores.

``batched_soft_nms`` is mmcv's ``batched_nms`` for this type: groups are kept apart by
shifting each group's boxes by ``idx * (max coordinate + 1)``, the scores returned are the
decayed ones, and from ``split_thr`` boxes on each group runs separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

__all__ = ["soft_nms", "batched_soft_nms", "SOFT_NMS_METHODS"]

SOFT_NMS_METHODS = {"naive": 0, "linear": 1, "gaussian": 2}
_SOFT_NMS_KEYS = ("iou_threshold", "sigma", "min_score", "method", "offset")
_BATCH_KEYS = ("type", "class_agnostic", "split_thr", "max_num")

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def _drop_and_fill(removed: npt.NDArray[np.bool_]) -> I64:
    """Positions (within the segment after the taken box) that survive a pass, in the order the
    operator leaves them: each dropped box's slot is filled by the last surviving box behind it
    (the dropped boxes behind it are discarded on the way)."""
    holes = np.flatnonzero(removed)
    survivors_from_back = np.flatnonzero(~removed)[::-1]
    pairs = min(len(holes), len(survivors_from_back))
    filled = int(np.count_nonzero(holes[:pairs] < survivors_from_back[:pairs]))
    order = np.arange(len(removed))
    order[holes[:filled]] = survivors_from_back[:filled]
    return order[: len(survivors_from_back)]


def _first_max(scores: F32) -> int:
    """The operator's choice: the first maximum, scanning with ``max < score``; a NaN is never
    taken over the first slot's score, and is taken only when it holds the first slot (a
    zero-area box pair gives IoU 0/0 = NaN, which the gaussian weight carries on)."""
    if np.isnan(scores[0]) or np.isnan(scores).all():
        return 0
    return int(np.nanargmax(scores))


def _soft_nms_arrays(
    boxes: F32,
    scores: F32,
    iou_threshold: float,
    sigma: float,
    min_score: float,
    method: int,
    offset: int,
) -> tuple[F32, I64]:
    """mmcv's ``softnms_cpu`` on float32 ``boxes [N, 4]`` and ``scores [N]``: ``dets [K, 5]``
    (box, decayed score) in selection order and their input indices ``[K]``."""
    n = len(boxes)
    # rows: x1, y1, x2, y2, score, area; columns are the operator's array slots
    data = np.empty((6, n), dtype=np.float32)
    data[:4] = boxes.T
    data[4] = scores
    data[5] = (data[2] - data[0] + offset) * (data[3] - data[1] + offset)
    inds = np.arange(n, dtype=np.int64)
    dets = np.empty((n, 5), dtype=np.float32)
    thr, sig, floor = np.float32(iou_threshold), np.float32(sigma), np.float32(min_score)
    zero = np.float32(0)
    live, i = n, 0
    while i < live:
        best = _first_max(data[4, i:live]) + i
        if best != i:
            data[:, [i, best]] = data[:, [best, i]]
            inds[[i, best]] = inds[[best, i]]
        dets[i] = data[:5, i]
        rest = data[:, i + 1 : live]
        w = np.maximum(
            zero, np.minimum(data[2, i], rest[2]) - np.maximum(data[0, i], rest[0]) + offset
        )
        h = np.maximum(
            zero, np.minimum(data[3, i], rest[3]) - np.maximum(data[1, i], rest[1]) + offset
        )
        inter = w * h
        ovr = inter / (data[5, i] + rest[5] - inter)
        if method == 0:
            weight = np.where(ovr >= thr, zero, np.float32(1))
        elif method == 1:
            weight = np.where(ovr >= thr, np.float32(1) - ovr, np.float32(1))
        else:
            weight = np.exp(-(ovr * ovr) / sig)
        rest[4] *= weight
        removed = rest[4] < floor
        if removed.any():
            keep = _drop_and_fill(removed)
            data[:, i + 1 : i + 1 + len(keep)] = rest[:, keep]
            inds[i + 1 : i + 1 + len(keep)] = inds[i + 1 : live][keep]
            live = i + 1 + len(keep)
        i += 1
    return dets[:live], inds[:live]


def soft_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    min_score: float = 1e-3,
    method: str = "linear",
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmcv's ``soft_nms`` (same defaults).

    Args:
        boxes: ``[N, 4]`` xyxy. scores: ``[N]``.
        iou_threshold: IoU from which ``'naive'``/``'linear'`` decay a score.
        sigma: ``'gaussian'`` width.
        min_score: scores below it are dropped after each decay.
        method: ``'naive'``, ``'linear'`` or ``'gaussian'``.
        offset: 0, or 1 for widths ``x2 - x1 + 1``.

    Returns:
        ``dets [K, 5]`` (boxes with their decayed scores, by decreasing score) and the int64
        indices ``[K]`` of those boxes in ``boxes``; on ``boxes``' device and dtype. Runs on the
        CPU, as mmcv's operator does.
    """
    if method not in SOFT_NMS_METHODS:
        raise ValueError(
            f"soft_nms method must be one of {sorted(SOFT_NMS_METHODS)}, got {method!r}"
        )
    if offset not in (0, 1):
        raise ValueError(f"soft_nms offset must be 0 or 1, got {offset!r}")
    if boxes.dim() != 2 or boxes.size(1) != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"soft_nms needs boxes [N, 4] and scores [N], got {tuple(boxes.shape)} and "
            f"{tuple(scores.shape)}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 IoUs, as in the operator
        dets, inds = _soft_nms_arrays(
            boxes.detach().float().cpu().numpy(),
            scores.detach().float().cpu().numpy(),
            iou_threshold,
            sigma,
            min_score,
            SOFT_NMS_METHODS[method],
            offset,
        )
    return (
        torch.from_numpy(dets).to(device=boxes.device, dtype=boxes.dtype),
        torch.from_numpy(inds).to(boxes.device),
    )


def batched_soft_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, nms_cfg: Mapping[str, Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS within each group ``idxs`` (mmcv ``batched_nms`` with ``type='soft_nms'``).

    Args:
        boxes: ``[N, 4]`` xyxy. scores: ``[N]``. idxs: ``[N]`` int64 group (class/level) ids.
        nms_cfg: ``dict(type='soft_nms', iou_threshold, sigma, min_score, method, offset)`` and
            mmcv's batching keys ``class_agnostic`` (one group), ``split_thr`` (from this many
            boxes on, run group by group; default 10000) and ``max_num``.

    Returns:
        ``dets [K, 5]`` (original boxes, decayed scores; by decreasing score) and the kept
        indices ``[K]``.
    """
    unknown = set(nms_cfg) - set(_SOFT_NMS_KEYS) - set(_BATCH_KEYS)
    if unknown:
        raise KeyError(
            f"nms=dict(type='soft_nms') got unknown key(s) {sorted(unknown)}; it takes "
            f"{sorted(_SOFT_NMS_KEYS + _BATCH_KEYS)}"
        )
    op_args = {k: nms_cfg[k] for k in _SOFT_NMS_KEYS if k in nms_cfg}
    if nms_cfg.get("class_agnostic", False):
        shifted = boxes
    else:
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        shifted = boxes + offsets[:, None]
    max_num = int(nms_cfg.get("max_num", -1))
    if shifted.size(0) < nms_cfg.get("split_thr", 10000):
        dets, keep = soft_nms(shifted, scores, **op_args)
        kept_scores = dets[:, -1]
    else:
        taken = scores.new_zeros(scores.size(), dtype=torch.bool)
        decayed = scores.new_zeros(scores.size())
        for group in torch.unique(idxs):
            members = (idxs == group).nonzero(as_tuple=False).view(-1)
            dets, group_keep = soft_nms(shifted[members], scores[members], **op_args)
            taken[members[group_keep]] = True
            decayed[members[group_keep]] = dets[:, -1]
        keep = taken.nonzero(as_tuple=False).view(-1)
        kept_scores, order = decayed[keep].sort(descending=True)
        keep = keep[order]
    if max_num > 0:
        keep, kept_scores = keep[:max_num], kept_scores[:max_num]
    return torch.cat([boxes[keep], kept_scores[:, None].to(boxes.dtype)], -1), keep
