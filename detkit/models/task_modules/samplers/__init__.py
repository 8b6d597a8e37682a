"""MMDetection v2's non-uniform box samplers (Libra R-CNN's IoU-balanced sampling and friends);
each builds on :class:`~detkit.models.task_modules.sampler.RandomSampler`'s ``sample``."""

from detkit.models.task_modules.samplers.combined_sampler import CombinedSampler
from detkit.models.task_modules.samplers.instance_balanced_pos_sampler import (
    InstanceBalancedPosSampler,
)
from detkit.models.task_modules.samplers.iou_balanced_neg_sampler import IoUBalancedNegSampler

__all__ = ["CombinedSampler", "InstanceBalancedPosSampler", "IoUBalancedNegSampler"]
