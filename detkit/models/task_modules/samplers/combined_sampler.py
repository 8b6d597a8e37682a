"""``CombinedSampler`` (MMDetection v2): positives from one sampler, negatives from another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.models.task_modules.sampler import RandomSampler
from detkit.registry import BBOX_SAMPLERS, build

__all__ = ["CombinedSampler"]


@BBOX_SAMPLERS.register_module()
class CombinedSampler(RandomSampler):
    """Draw positives with ``pos_sampler`` and negatives with ``neg_sampler``.

    Args:
        pos_sampler, neg_sampler: sampler configs (``dict(type=...)``) or built samplers. As in
            mmdet, the combined sampler's own arguments (``num``, ``pos_fraction``,
            ``neg_pos_ub``, ``add_gt_as_proposals``, ...) are their defaults, so
            ``dict(type='InstanceBalancedPosSampler')`` needs nothing more.
        num, pos_fraction, neg_pos_ub, add_gt_as_proposals: as :class:`RandomSampler`; the
            counts (and whether gts are added) are decided here, the draws in the two samplers.
    """

    def __init__(
        self,
        pos_sampler: Mapping[str, Any] | Any,
        neg_sampler: Mapping[str, Any] | Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pos_sampler = self._build(pos_sampler, kwargs, "pos_sampler")
        self.neg_sampler = self._build(neg_sampler, kwargs, "neg_sampler")

    @staticmethod
    def _build(cfg: Any, defaults: Mapping[str, Any], key: str) -> RandomSampler:
        sampler = build(cfg, BBOX_SAMPLERS, default_args=defaults, key_path=key)
        if not isinstance(sampler, RandomSampler):
            raise TypeError(
                f"CombinedSampler: {key}={cfg!r} built a {type(sampler).__name__}, not a sampler "
                "with _sample_pos/_sample_neg (RandomSampler or a subclass)"
            )
        return sampler
