"""Losses (registered in ``MODELS``) with MMDetection v2 weighting semantics."""

from detkit.models.losses.accuracy import Accuracy, accuracy
from detkit.models.losses.balanced_l1_loss import BalancedL1Loss, balanced_l1_loss
from detkit.models.losses.cross_entropy_loss import (
    CrossEntropyLoss,
    binary_cross_entropy,
    cross_entropy,
    mask_cross_entropy,
)
from detkit.models.losses.focal_loss import (
    FocalLoss,
    py_focal_loss_with_prob,
    py_sigmoid_focal_loss,
    sigmoid_focal_loss,
)
from detkit.models.losses.iou_loss import (
    BoundedIoULoss,
    CIoULoss,
    DIoULoss,
    GIoULoss,
    IoULoss,
    bounded_iou_loss,
    ciou_loss,
    diou_loss,
    giou_loss,
    iou_loss,
)
from detkit.models.losses.l1_losses import L1Loss, SmoothL1Loss
from detkit.models.losses.seesaw_loss import SeesawLoss, seesaw_ce_loss
from detkit.models.losses.utils import weight_reduce_loss

__all__ = [
    "Accuracy",
    "accuracy",
    "BalancedL1Loss",
    "balanced_l1_loss",
    "CrossEntropyLoss",
    "binary_cross_entropy",
    "cross_entropy",
    "mask_cross_entropy",
    "FocalLoss",
    "py_focal_loss_with_prob",
    "py_sigmoid_focal_loss",
    "sigmoid_focal_loss",
    "BoundedIoULoss",
    "CIoULoss",
    "DIoULoss",
    "GIoULoss",
    "IoULoss",
    "bounded_iou_loss",
    "ciou_loss",
    "diou_loss",
    "giou_loss",
    "iou_loss",
    "L1Loss",
    "SmoothL1Loss",
    "SeesawLoss",
    "seesaw_ce_loss",
    "weight_reduce_loss",
]
