"""``BalancedL1Loss`` (Libra R-CNN, Pang et al., CVPR 2019; MMDetection v2)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from detkit.models.losses.utils import check_reduction, empty_target_loss, weight_reduce_loss
from detkit.registry import MODELS

__all__ = ["BalancedL1Loss", "balanced_l1_loss"]


def balanced_l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    beta: float = 1.0,
    alpha: float = 0.5,
    gamma: float = 1.5,
) -> torch.Tensor:
    """Element loss of ``pred`` and ``target`` (one shape) at ``x = |pred - target|``:
    ``alpha / b (b x + 1) ln(b x / beta + 1) - alpha x`` for ``x < beta``, else
    ``gamma x + gamma / b - alpha beta``, with ``b = e^(gamma / alpha) - 1`` (the gradient is
    continuous at ``beta``). Empty targets give ``pred.sum() * 0``."""
    if beta <= 0:
        raise ValueError(f"balanced_l1_loss: beta must be > 0, got {beta}")
    if target.numel() == 0:
        return pred.sum() * 0
    if pred.size() != target.size():
        raise ValueError(
            f"balanced_l1_loss needs pred and target of one shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(
        diff < beta,
        alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
        gamma * diff + gamma / b - alpha * beta,
    )


@MODELS.register_module()
class BalancedL1Loss(nn.Module):
    """Balanced L1 loss, weighted and reduced like the other regression losses.

    Args:
        alpha: the inlier gradient's scale.
        gamma: the outlier gradient's bound.
        beta: transition point.
        reduction: none / mean / sum.
        loss_weight: multiplier.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        gamma: float = 1.5,
        beta: float = 1.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
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
        """``pred``, ``target``, ``weight``: one shape (e.g. ``[N, 4]`` box deltas)."""
        reduction = check_reduction(reduction_override or self.reduction)
        if target.numel() == 0:
            return self.loss_weight * empty_target_loss(pred, reduction, avg_factor)
        loss = balanced_l1_loss(pred, target, beta=self.beta, alpha=self.alpha, gamma=self.gamma)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
