"""``InstanceBalancedPosSampler`` (MMDetection v2, Libra R-CNN): positives spread evenly over
the gt instances they are assigned to."""

from __future__ import annotations

import torch

from detkit.models.task_modules.assign_result import AssignResult
from detkit.models.task_modules.sampler import RandomSampler
from detkit.registry import BBOX_SAMPLERS

__all__ = ["InstanceBalancedPosSampler"]


@BBOX_SAMPLERS.register_module()
class InstanceBalancedPosSampler(RandomSampler):
    """Sample positives per gt instance, then top up or cut down to ``num_expected``.

    With ``G`` gts among the positives, each gt keeps at most
    ``int(round(num_expected / G) + 1)`` of its positives (Python's ``round``: halves to even),
    drawn uniformly; if that gives fewer than ``num_expected``, the rest are drawn uniformly
    from the positives not yet taken; if more, ``num_expected`` of them are drawn uniformly.
    Negatives are :class:`RandomSampler`'s.

    One deliberate difference: mmdet v2.28 computes "not yet taken" as a set difference of
    0-d tensors, which hash by identity, so nothing is removed; its top-up can redraw taken
    positives that ``sample``'s ``unique()`` then drops, leaving fewer than ``num_expected``.
    detkit tops up from the positives really not taken.
    """

    def _sample_pos(
        self, assign_result: AssignResult, num_expected: int, **kwargs: object
    ) -> torch.Tensor:
        """Indices ``[<= num_expected]`` of positives (``gt_inds > 0``), balanced over gts."""
        gt_inds = assign_result.gt_inds
        pos_inds = torch.nonzero(gt_inds > 0, as_tuple=False).view(-1)
        if pos_inds.numel() <= num_expected:
            return pos_inds
        pos_gt = gt_inds[pos_inds]
        unique_gts = pos_gt.unique()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        num_per_gt = int(round(num_expected / float(len(unique_gts))) + 1)
        parts = []
        for gt in unique_gts:
            inds = pos_inds[pos_gt == gt]
            if inds.numel() > num_per_gt:
                inds = self.random_choice(inds, num_per_gt)
            parts.append(inds)
        sampled = torch.cat(parts)
        if sampled.numel() < num_expected:
            rest = pos_inds[~torch.isin(pos_inds, sampled)]
            num_extra = num_expected - sampled.numel()
            if rest.numel() > num_extra:
                rest = self.random_choice(rest, num_extra)
            sampled = torch.cat([sampled, rest])
        elif sampled.numel() > num_expected:
            sampled = self.random_choice(sampled, num_expected)
        return sampled
