"""Losses (registered in ``MODELS``) with MMDetection v2 weighting semantics."""

from detkit.models.losses.cross_entropy_loss import (
    CrossEntropyLoss,
    binary_cross_entropy,
    cross_entropy,
    mask_cross_entropy,
)
from detkit.models.losses.l1_losses import L1Loss, SmoothL1Loss
from detkit.models.losses.utils import weight_reduce_loss

__all__ = [
    "CrossEntropyLoss",
    "binary_cross_entropy",
    "cross_entropy",
    "mask_cross_entropy",
    "L1Loss",
    "SmoothL1Loss",
    "weight_reduce_loss",
]
