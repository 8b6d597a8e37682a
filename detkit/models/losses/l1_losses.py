"""``SmoothL1Loss`` and ``L1Loss`` (MMDetection v2 weighting and reduction)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.losses.utils import check_reduction, empty_target_loss, weight_reduce_loss
from detkit.registry import MODELS

__all__ = ["SmoothL1Loss", "L1Loss"]


def _check_shapes(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.size() != target.size():
        raise ValueError(
            f"regression loss needs pred and target of one shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )


@MODELS.register_module()
class SmoothL1Loss(nn.Module):
    """``0.5 d² / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``, weighted and reduced.

    Args:
        beta: transition point (> 0).
        reduction: none / mean / sum.
        loss_weight: multiplier.
    """

    def __init__(
        self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"SmoothL1Loss beta must be > 0, got {beta}")
        self.beta = beta
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override or self.reduction)
        if target.numel() == 0:
            return self.loss_weight * empty_target_loss(pred, reduction, avg_factor)
        _check_shapes(pred, target)
        loss = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class L1Loss(nn.Module):
    """``|pred - target|``, weighted and reduced.

    Args:
        reduction: none / mean / sum.
        loss_weight: multiplier.
    """

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override or self.reduction)
        if target.numel() == 0:
            return self.loss_weight * empty_target_loss(pred, reduction, avg_factor)
        _check_shapes(pred, target)
        loss = F.l1_loss(pred, target, reduction="none")
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
