"""``MaxIoUAssigner`` (MMDetection v2): IoU-based assignment of candidates to gts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

import torch

from detkit.models.task_modules.assign_result import AssignResult
from detkit.models.task_modules.iou_calculator import BboxOverlaps2D
from detkit.registry import BBOX_ASSIGNERS, IOU_CALCULATORS, build
from detkit.structures.instances import Instances

__all__ = ["AssignResult", "MaxIoUAssigner"]


@BBOX_ASSIGNERS.register_module()
class MaxIoUAssigner:
    """Assign each candidate box to the gt of highest IoU (or negative / ignored).

    Args:
        pos_iou_thr: IoU ≥ this ⇒ positive.
        neg_iou_thr: ``0 <= IoU < thr`` ⇒ negative; a ``(lo, hi)`` pair gives ``[lo, hi)``.
        min_pos_iou: low-quality matches need at least this IoU.
        gt_max_assign_all: give every candidate tied at a gt's best IoU to that gt.
        ignore_iof_thr: candidates whose IoF with an ignore box exceeds this are ignored
            (-1 disables).
        ignore_wrt_candidates: IoF relative to the candidate's area (else the ignore box's).
        match_low_quality: each gt also takes its best-overlapping candidates.
        gpu_assign_thr: assign on CPU when there are more gts than this (-1: never).
        iou_calculator: config of the overlap calculator.
    """

    def __init__(
        self,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        gt_max_assign_all: bool = True,
        ignore_iof_thr: float = -1,
        ignore_wrt_candidates: bool = True,
        match_low_quality: bool = True,
        gpu_assign_thr: int = -1,
        iou_calculator: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(neg_iou_thr, (int, float, tuple, list)):
            raise TypeError(f"neg_iou_thr must be a float or a (lo, hi) pair, got {neg_iou_thr!r}")
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = (
            tuple(neg_iou_thr) if isinstance(neg_iou_thr, (tuple, list)) else neg_iou_thr
        )
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.match_low_quality = match_low_quality
        self.gpu_assign_thr = gpu_assign_thr
        self.iou_calculator = (
            BboxOverlaps2D() if iou_calculator is None else build(iou_calculator, IOU_CALCULATORS)
        )

    @overload
    def assign(
        self,
        bboxes: Instances,
        gt_bboxes: Instances,
        gt_bboxes_ignore: Instances | None = None,
    ) -> AssignResult: ...

    @overload
    def assign(
        self,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult: ...

    def assign(
        self,
        bboxes: Instances | torch.Tensor,
        gt_bboxes: Instances | torch.Tensor,
        gt_bboxes_ignore: Instances | torch.Tensor | None = None,
        gt_labels: torch.Tensor | None = None,
    ) -> AssignResult:
        """Assign candidates ``[N, 4]`` to ground truths ``[G, 4]`` (xyxy, same frame),
        ignoring candidates on the ignored boxes. MMDetection v2's call and keywords,
        ``assign(bboxes, gt_bboxes, gt_bboxes_ignore=None, gt_labels=None)`` with tensors, or
        detkit's typed call with ``Instances`` (``boxes``; the gts' ``labels`` when present)
        in the same positions (MMDetection v3's positional ``assign(pred_instances,
        gt_instances, gt_instances_ignore)``): the same assignment."""
        typed = [isinstance(a, Instances) for a in (bboxes, gt_bboxes)]
        if gt_bboxes_ignore is not None:
            typed.append(isinstance(gt_bboxes_ignore, Instances))
        if any(typed) and not all(typed):
            raise TypeError("MaxIoUAssigner.assign: give all tensors or all Instances")
        if isinstance(bboxes, Instances) and isinstance(gt_bboxes, Instances):
            ignore = gt_bboxes_ignore
            return self._assign(
                bboxes.boxes,
                gt_bboxes.boxes,
                ignore.boxes if isinstance(ignore, Instances) else None,
                gt_bboxes.labels if gt_bboxes.has("labels") else None,
            )
        assert isinstance(bboxes, torch.Tensor) and isinstance(gt_bboxes, torch.Tensor)
        assert not isinstance(gt_bboxes_ignore, Instances)
        return self._assign(bboxes, gt_bboxes, gt_bboxes_ignore, gt_labels)

    def _assign(
        self,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_bboxes_ignore: torch.Tensor | None,
        gt_labels: torch.Tensor | None,
    ) -> AssignResult:
        on_cpu = self.gpu_assign_thr > 0 and gt_bboxes.shape[0] > self.gpu_assign_thr
        device = bboxes.device
        if on_cpu:
            bboxes, gt_bboxes = bboxes.cpu(), gt_bboxes.cpu()
            gt_bboxes_ignore = None if gt_bboxes_ignore is None else gt_bboxes_ignore.cpu()
            gt_labels = None if gt_labels is None else gt_labels.cpu()
        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        if (
            self.ignore_iof_thr > 0
            and gt_bboxes_ignore is not None
            and gt_bboxes_ignore.numel() > 0
            and bboxes.numel() > 0
        ):
            if self.ignore_wrt_candidates:
                ignore_max = self.iou_calculator(bboxes, gt_bboxes_ignore, mode="iof").max(dim=1)[0]
            else:
                ignore_max = self.iou_calculator(gt_bboxes_ignore, bboxes, mode="iof").max(dim=0)[0]
            overlaps[:, ignore_max > self.ignore_iof_thr] = -1
        result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if on_cpu:
            result.gt_inds = result.gt_inds.to(device)
            result.max_overlaps = result.max_overlaps.to(device)
            if result.labels is not None:
                result.labels = result.labels.to(device)
        return result

    def assign_wrt_overlaps(
        self, overlaps: torch.Tensor, gt_labels: torch.Tensor | None = None
    ) -> AssignResult:
        """Assign from an IoU matrix ``[G, N]`` (gts × candidates)."""
        num_gts, num_bboxes = overlaps.size(0), overlaps.size(1)
        assigned = overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
        if num_gts == 0 or num_bboxes == 0:
            if num_gts == 0:
                assigned[:] = 0
            labels = (
                None
                if gt_labels is None
                else overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
            )
            return AssignResult(num_gts, assigned, overlaps.new_zeros((num_bboxes,)), labels)
        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
        if isinstance(self.neg_iou_thr, tuple):
            lo, hi = self.neg_iou_thr
            assigned[(max_overlaps >= lo) & (max_overlaps < hi)] = 0
        else:
            assigned[(max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)] = 0
        pos = max_overlaps >= self.pos_iou_thr
        assigned[pos] = argmax_overlaps[pos] + 1
        if self.match_low_quality:
            assigned = self._match_low_quality(
                overlaps, gt_max_overlaps, gt_argmax_overlaps, assigned
            )
        labels = None
        if gt_labels is not None:
            labels = assigned.new_full((num_bboxes,), -1)
            pos_inds = assigned > 0
            labels[pos_inds] = gt_labels[assigned[pos_inds] - 1]
        return AssignResult(num_gts, assigned, max_overlaps, labels)

    def _match_low_quality(
        self,
        overlaps: torch.Tensor,
        gt_max: torch.Tensor,
        gt_argmax: torch.Tensor,
        assigned: torch.Tensor,
    ) -> torch.Tensor:
        """Each gt with best IoU ≥ ``min_pos_iou`` takes its best candidates; later gts win
        (mmdet's sequential loop, vectorised)."""
        qualified = gt_max >= self.min_pos_iou
        gt_ids = torch.arange(1, overlaps.size(0) + 1, device=overlaps.device)
        if self.gt_max_assign_all:
            takes = (overlaps == gt_max[:, None]) & qualified[:, None]
        else:
            takes = torch.zeros_like(overlaps, dtype=torch.bool)
            takes[gt_ids - 1, gt_argmax] = qualified
        last_gt = (takes.long() * gt_ids[:, None]).max(dim=0)[0]
        return torch.where(last_gt > 0, last_gt, assigned)
