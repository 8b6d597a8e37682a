"""``FocalLoss`` (Lin et al., ICCV 2017; MMDetection v2): sigmoid focal loss.

Per element, with ``p`` the sigmoid of the logit and ``t`` the one-hot target,
``FL = BCE(logit, t) * (alpha t + (1 - alpha)(1 - t)) * pt ** gamma``,
``pt = (1 - p) t + p (1 - t)``. Labels equal to ``num_classes`` (the background index)
have an all-zero one-hot row. mmdet runs mmcv's CUDA kernel on GPUs and this formula on CPUs;
detkit runs the formula everywhere (the same values up to float rounding).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.losses.utils import check_reduction, weight_reduce_loss
from detkit.registry import MODELS

__all__ = ["FocalLoss", "py_sigmoid_focal_loss", "py_focal_loss_with_prob", "sigmoid_focal_loss"]


def _element_weight(weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
    """mmdet's broadcast of a sample weight ``[N]`` (or a flat ``[N * C]``) to ``loss [N, C]``."""
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0):
        weight = weight.view(-1, 1)
    elif weight.numel() == loss.numel():
        weight = weight.view(loss.size(0), -1)
    else:
        raise ValueError(
            f"focal loss weight of shape {tuple(weight.shape)} fits neither the samples nor "
            f"the elements of the loss {tuple(loss.shape)}"
        )
    if weight.ndim != loss.ndim:
        raise ValueError(f"focal loss weight {tuple(weight.shape)} vs loss {tuple(loss.shape)}")
    return weight


def _focal_weight(
    prob: torch.Tensor, target: torch.Tensor, gamma: float, alpha: float
) -> torch.Tensor:
    pt = (1 - prob) * target + prob * (1 - target)
    return (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[N]`` labels in ``[0, num_classes]`` to ``[N, num_classes]`` (background: zeros)."""
    return F.one_hot(labels, num_classes=num_classes + 1)[:, :num_classes]


def py_sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of logits ``pred [N, C]`` against a one-hot (or soft) ``target [N, C]``."""
    target = target.type_as(pred)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    loss = loss * _focal_weight(pred.sigmoid(), target, gamma, alpha)
    return weight_reduce_loss(loss, _element_weight(weight, loss), reduction, avg_factor)


def sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of logits ``pred [N, C]`` against int64 labels ``target [N]`` (``C`` is the
    background); mmcv's ``sigmoid_focal_loss`` signature."""
    return py_sigmoid_focal_loss(
        pred, _one_hot(target, pred.size(1)), weight, gamma, alpha, reduction, avg_factor
    )


def py_focal_loss_with_prob(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float = 0.25,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of probabilities ``pred [N, C]`` (already activated) against int64 labels
    ``target [N]`` (``C`` is the background)."""
    onehot = _one_hot(target, pred.size(1)).type_as(pred)
    loss = F.binary_cross_entropy(pred, onehot, reduction="none")
    loss = loss * _focal_weight(pred, onehot, gamma, alpha)
    return weight_reduce_loss(loss, _element_weight(weight, loss), reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss on class logits ``[N, C]`` and int64 labels ``[N]`` in ``[0, C]``.

    Args:
        use_sigmoid: must be True (mmdet supports only the sigmoid form).
        gamma: focusing exponent.
        alpha: weight of the positive term (``1 - alpha`` for the negatives).
        reduction: none / mean / sum.
        loss_weight: multiplier.
        activated: ``pred`` holds probabilities, not logits.
    """

    def __init__(
        self,
        use_sigmoid: bool = True,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError(
                "FocalLoss: only the sigmoid focal loss is supported (use_sigmoid=True)"
            )
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override or self.reduction)
        loss_fn = py_focal_loss_with_prob if self.activated else sigmoid_focal_loss
        return self.loss_weight * loss_fn(
            pred,
            target,
            weight,
            gamma=self.gamma,
            alpha=self.alpha,
            reduction=reduction,
            avg_factor=avg_factor,
        )
