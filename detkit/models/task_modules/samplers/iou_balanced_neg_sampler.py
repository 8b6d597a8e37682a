"""``IoUBalancedNegSampler`` (MMDetection v2, Libra R-CNN): negatives drawn evenly from IoU bins
instead of uniformly, so hard (higher-IoU) negatives are not swamped by easy ones."""

from __future__ import annotations

import torch

from detkit.models.task_modules.assign_result import AssignResult
from detkit.models.task_modules.sampler import RandomSampler
from detkit.registry import BBOX_SAMPLERS

__all__ = ["IoUBalancedNegSampler"]


@BBOX_SAMPLERS.register_module()
class IoUBalancedNegSampler(RandomSampler):
    """IoU-balanced negative sampling (Libra R-CNN, arXiv:1904.02701).

    Of ``num_expected`` negatives, ``int(num_expected * (1 - floor_fraction))`` come from the
    negatives above the floor: split ``[floor_thr, max_iou)`` into ``num_bins`` equal IoU bins
    (``max_iou`` is the largest ``max_overlaps`` of all candidates, gts and positives
    included) and draw up to ``int(n / num_bins)`` uniformly from each, topping up uniformly
    from the unused ones above the floor. The floor negatives (IoU below ``floor_thr``) fill
    the remainder uniformly; any shortfall is then drawn from all unused negatives.
    Positives are :class:`RandomSampler`'s.

    Args:
        floor_thr: the floor IoU. ``> 0``: the floor is ``[0, floor_thr)``; ``0`` or ``-1``:
            the floor is IoU exactly 0 and the bins start at 0. (mmdet documents -1 as "all
            IoU-balanced", but its first call sets ``self.floor_thr = 0``, so every later call
            runs as 0; detkit runs -1 as 0 from the start and never mutates itself.)
        floor_fraction: fraction of the negatives drawn from the floor, in ``[0, 1]``.
        num_bins: number of IoU bins (1: uniform above the floor).
        num, pos_fraction, neg_pos_ub, add_gt_as_proposals: as :class:`RandomSampler`.
    """

    def __init__(
        self,
        num: int,
        pos_fraction: float,
        floor_thr: float = -1,
        floor_fraction: float = 0,
        num_bins: int = 3,
        **kwargs: object,
    ) -> None:
        super().__init__(num, pos_fraction, **kwargs)  # type: ignore[arg-type]
        if not (floor_thr >= 0 or floor_thr == -1):
            raise ValueError(f"IoUBalancedNegSampler: floor_thr={floor_thr!r} must be >= 0 or -1")
        if not 0 <= floor_fraction <= 1:
            raise ValueError(
                f"IoUBalancedNegSampler: floor_fraction={floor_fraction!r} must be in [0, 1]"
            )
        if num_bins < 1:
            raise ValueError(f"IoUBalancedNegSampler: num_bins={num_bins!r} must be >= 1")
        self.floor_thr = floor_thr
        self.floor_fraction = floor_fraction
        self.num_bins = num_bins

    def _draw(self, inds: torch.Tensor, num: int) -> torch.Tensor:
        """All of ``inds`` when there are at most ``num``, else ``num`` of them uniformly."""
        return inds if inds.numel() <= num else self.random_choice(inds, num)

    def _top_up(self, sampled: torch.Tensor, pool: torch.Tensor, num: int) -> torch.Tensor:
        """``sampled`` plus uniform draws from the rest of ``pool`` up to ``num`` in all."""
        if sampled.numel() >= num:
            return sampled
        rest = pool[~torch.isin(pool, sampled)]
        return torch.cat([sampled, self._draw(rest, num - sampled.numel())])

    def sample_via_interval(
        self, max_overlaps: torch.Tensor, full_set: torch.Tensor, num_expected: int
    ) -> torch.Tensor:
        """``num_expected`` of the indices ``full_set``, up to ``int(num_expected / num_bins)``
        per IoU bin ``[floor + i * w, floor + (i + 1) * w)``, ``w = (max_iou - floor) /
        num_bins``, then uniform top-up from ``full_set``. ``max_overlaps`` ``[N]`` covers all
        candidates."""
        floor = max(self.floor_thr, 0)
        max_iou = max_overlaps.max()
        interval = (max_iou - floor) / self.num_bins
        per_bin = int(num_expected / self.num_bins)
        ious = max_overlaps[full_set]
        parts = []
        for i in range(self.num_bins):
            start, end = floor + i * interval, floor + (i + 1) * interval
            parts.append(self._draw(full_set[(ious >= start) & (ious < end)], per_bin))
        return self._top_up(torch.cat(parts), full_set, num_expected)

    def _sample_neg(
        self, assign_result: AssignResult, num_expected: int, **kwargs: object
    ) -> torch.Tensor:
        """Indices ``[<= num_expected]`` of negatives (``gt_inds == 0``), IoU-balanced."""
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1)
        if neg_inds.numel() <= num_expected:
            return neg_inds
        max_overlaps = assign_result.max_overlaps
        ious = max_overlaps[neg_inds]
        if self.floor_thr > 0:
            in_floor = (ious >= 0) & (ious < self.floor_thr)
            above = ious >= self.floor_thr
        else:
            in_floor, above = ious == 0, ious > 0
        floor_inds, iou_inds = neg_inds[in_floor], neg_inds[above]
        num_iou = int(num_expected * (1 - self.floor_fraction))
        if iou_inds.numel() > num_iou and self.num_bins >= 2:
            iou_sampled = self.sample_via_interval(max_overlaps, iou_inds, num_iou)
        else:
            iou_sampled = self._draw(iou_inds, num_iou)
        floor_sampled = self._draw(floor_inds, num_expected - iou_sampled.numel())
        return self._top_up(torch.cat([floor_sampled, iou_sampled]), neg_inds, num_expected)
