"""``RandomSampler`` (MMDetection v2 ``BaseSampler`` + ``RandomSampler``) and ``SamplingResult``."""

from __future__ import annotations

from typing import overload

import torch

from detkit.models.task_modules.assigner import AssignResult
from detkit.registry import BBOX_SAMPLERS
from detkit.structures.instances import Instances

__all__ = ["RandomSampler", "SamplingResult"]


class SamplingResult:
    """Sampled positives and negatives of one image.

    Attributes:
        pos_inds, neg_inds: indices into the candidate list (gts first when they were added).
        pos_bboxes ``[P, 4]``, neg_bboxes ``[Q, 4]``: the sampled boxes (xyxy).
        pos_is_gt: uint8 ``[P]``, 1 where the positive is a gt box added as proposal.
        pos_assigned_gt_inds: int64 ``[P]`` 0-based gt index of each positive.
        pos_gt_bboxes ``[P, 4]``, pos_gt_labels ``[P]`` (None without labels).
    """

    def __init__(
        self,
        pos_inds: torch.Tensor,
        neg_inds: torch.Tensor,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        assign_result: AssignResult,
        gt_flags: torch.Tensor,
    ) -> None:
        self.pos_inds = pos_inds
        self.neg_inds = neg_inds
        self.pos_bboxes = bboxes[pos_inds]
        self.neg_bboxes = bboxes[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = gt_bboxes.shape[0]
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        if gt_bboxes.numel() == 0:
            self.pos_gt_bboxes = torch.empty_like(gt_bboxes).view(-1, 4)
        else:
            self.pos_gt_bboxes = gt_bboxes.view(-1, 4)[self.pos_assigned_gt_inds.long(), :]
        self.pos_gt_labels = (
            assign_result.labels[pos_inds] if assign_result.labels is not None else None
        )

    @property
    def bboxes(self) -> torch.Tensor:
        """Positives then negatives, ``[P + Q, 4]``."""
        return torch.cat([self.pos_bboxes, self.neg_bboxes])


@BBOX_SAMPLERS.register_module()
class RandomSampler:
    """Sample up to ``num * pos_fraction`` positives uniformly, negatives fill up to ``num``.

    Args:
        num: total samples per image.
        pos_fraction: fraction of positives.
        neg_pos_ub: cap negatives at ``neg_pos_ub * max(1, #pos)`` (-1: no cap).
        add_gt_as_proposals: prepend the gt boxes to the candidates.
    """

    def __init__(
        self,
        num: int,
        pos_fraction: float,
        neg_pos_ub: float = -1,
        add_gt_as_proposals: bool = True,
        **kwargs: object,
    ) -> None:
        self.num = num
        self.pos_fraction = pos_fraction
        self.neg_pos_ub = neg_pos_ub
        self.add_gt_as_proposals = add_gt_as_proposals
        # mmdet's BaseSampler hook: ``sample`` draws positives with ``pos_sampler._sample_pos``
        # and negatives with ``neg_sampler._sample_neg`` (``CombinedSampler`` sets both)
        self.pos_sampler: RandomSampler = self
        self.neg_sampler: RandomSampler = self

    @staticmethod
    def random_choice(gallery: torch.Tensor, num: int) -> torch.Tensor:
        """``num`` random elements of ``gallery`` (``torch.randperm`` on CPU, as mmdet)."""
        if len(gallery) < num:
            raise ValueError(f"cannot sample {num} from {len(gallery)} candidates")
        perm = torch.randperm(gallery.numel())[:num].to(device=gallery.device)
        return gallery[perm]

    def _sample_pos(
        self, assign_result: AssignResult, num_expected: int, **kwargs: object
    ) -> torch.Tensor:
        """Up to ``num_expected`` positive indices (``gt_inds > 0``), uniformly."""
        return self._sample(assign_result.gt_inds > 0, num_expected)

    def _sample_neg(
        self, assign_result: AssignResult, num_expected: int, **kwargs: object
    ) -> torch.Tensor:
        """Up to ``num_expected`` negative indices (``gt_inds == 0``), uniformly."""
        return self._sample(assign_result.gt_inds == 0, num_expected)

    def _sample(self, inds: torch.Tensor, num_expected: int) -> torch.Tensor:
        inds = torch.nonzero(inds, as_tuple=False).view(-1)
        if inds.numel() <= num_expected:
            return inds
        return self.random_choice(inds, num_expected)

    @overload
    def sample(
        self, assign_result: AssignResult, bboxes: Instances, gt_bboxes: Instances
    ) -> SamplingResult: ...

    @overload
    def sample(
        self,
        assign_result: AssignResult,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_labels: torch.Tensor | None = None,
    ) -> SamplingResult: ...

    def sample(
        self,
        assign_result: AssignResult,
        bboxes: Instances | torch.Tensor,
        gt_bboxes: Instances | torch.Tensor,
        gt_labels: torch.Tensor | None = None,
    ) -> SamplingResult:
        """Sample from the candidates given ``assign_result`` (modified in place when the gts
        are added as proposals): MMDetection v2's call and keywords, ``sample(assign_result,
        bboxes, gt_bboxes, gt_labels=None)`` with tensors (``[N, 4+]`` boxes), or detkit's
        typed call with ``Instances`` (``boxes``; the gts' ``labels`` when present) in the
        same positions (MMDetection v3's positional call): the same sampling."""
        if isinstance(bboxes, Instances) and isinstance(gt_bboxes, Instances):
            labels = gt_bboxes.labels if gt_bboxes.has("labels") else None
            return self._sample_boxes(assign_result, bboxes.boxes, gt_bboxes.boxes, labels)
        if isinstance(bboxes, Instances) or isinstance(gt_bboxes, Instances):
            raise TypeError("sample: give tensors or Instances, not both")
        return self._sample_boxes(assign_result, bboxes, gt_bboxes, gt_labels)

    def _sample_boxes(
        self,
        assign_result: AssignResult,
        bboxes: torch.Tensor,
        gt_bboxes: torch.Tensor,
        gt_labels: torch.Tensor | None,
    ) -> SamplingResult:
        if bboxes.dim() < 2:
            bboxes = bboxes[None, :]
        bboxes = bboxes[:, :4]
        gt_flags = bboxes.new_zeros((bboxes.shape[0],), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            if gt_labels is None:
                raise ValueError("gt_labels must be given when add_gt_as_proposals is True")
            bboxes = torch.cat([gt_bboxes, bboxes], dim=0)
            assign_result.add_gt_(gt_labels)
            gt_flags = torch.cat([bboxes.new_ones(gt_bboxes.shape[0], dtype=torch.uint8), gt_flags])
        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self.pos_sampler._sample_pos(
            assign_result, num_expected_pos, bboxes=bboxes
        ).unique()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        num_expected_neg = self.num - pos_inds.numel()
        if self.neg_pos_ub >= 0:
            num_expected_neg = min(
                num_expected_neg, int(self.neg_pos_ub * max(1, pos_inds.numel()))
            )
        neg_inds = self.neg_sampler._sample_neg(
            assign_result, num_expected_neg, bboxes=bboxes
        ).unique()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)
