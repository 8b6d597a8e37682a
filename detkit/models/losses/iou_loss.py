"""IoU-family box regression losses (MMDetection v2): ``IoULoss``, ``BoundedIoULoss``,
``GIoULoss``, ``DIoULoss`` and ``CIoULoss``.

Every function takes predicted and target boxes ``[N, 4]`` (xyxy, absolute coordinates, aligned
row by row) and returns the element loss before weighting: ``[N]`` for the IoU family,
``[N, 4]`` for the bounded IoU loss (one term per centre/size coordinate). The modules weight
and reduce it as the other losses (``weight``, ``avg_factor``, ``reduction_override``), with
mmdet's two shortcuts: a weight with no positive entry gives ``(pred * weight).sum()`` (a
zero that keeps the graph), and a per-coordinate weight ``[N, 4]`` is averaged to ``[N]``
(all but ``BoundedIoULoss``).
"""

from __future__ import annotations

import math
import warnings
from typing import cast

import torch
import torch.nn as nn

from detkit.models.losses.utils import check_reduction, weight_reduce_loss
from detkit.registry import MODELS
from detkit.structures.overlaps import bbox_overlaps

__all__ = [
    "IoULoss",
    "BoundedIoULoss",
    "GIoULoss",
    "DIoULoss",
    "CIoULoss",
    "iou_loss",
    "bounded_iou_loss",
    "giou_loss",
    "diou_loss",
    "ciou_loss",
]

_IOU_MODES = ("linear", "square", "log")


def _aligned_overlaps(
    pred: torch.Tensor, target: torch.Tensor, mode: str, eps: float
) -> torch.Tensor:
    return cast(torch.Tensor, bbox_overlaps(pred, target, mode=mode, is_aligned=True, eps=eps))


def iou_loss(
    pred: torch.Tensor, target: torch.Tensor, mode: str = "log", eps: float = 1e-6
) -> torch.Tensor:
    """``1 - IoU`` (linear), ``1 - IoU²`` (square) or ``-log IoU`` (log); IoU clamped to ``eps``."""
    if mode not in _IOU_MODES:
        raise ValueError(f"iou_loss mode must be one of {_IOU_MODES}, got {mode!r}")
    ious = _aligned_overlaps(pred, target, "iou", 1e-6).clamp(min=eps)
    if mode == "linear":
        return 1 - ious
    if mode == "square":
        return 1 - ious**2
    return -ious.log()


def bounded_iou_loss(
    pred: torch.Tensor, target: torch.Tensor, beta: float = 0.2, eps: float = 1e-3
) -> torch.Tensor:
    """Bounded IoU loss (Tychsen-Smith & Petersson, 2018): for the centre offsets and the sizes,
    ``1 - `` the best IoU reachable with that coordinate alone, smoothed (smooth L1 with
    ``beta``); ``[N, 4]``. The target terms carry no gradient."""
    pred_ctr = (pred[:, :2] + pred[:, 2:]) * 0.5
    pred_wh = pred[:, 2:] - pred[:, :2]
    with torch.no_grad():
        target_ctr = (target[:, :2] + target[:, 2:]) * 0.5
        target_wh = target[:, 2:] - target[:, :2]
    d = (target_ctr - pred_ctr).abs()
    loss_dxy = 1 - torch.max((target_wh - 2 * d) / (target_wh + 2 * d + eps), torch.zeros_like(d))
    loss_dwh = 1 - torch.min(target_wh / (pred_wh + eps), pred_wh / (target_wh + eps))
    comb = torch.stack(
        [loss_dxy[:, 0], loss_dxy[:, 1], loss_dwh[:, 0], loss_dwh[:, 1]], dim=-1
    ).flatten(1)
    return torch.where(comb < beta, 0.5 * comb * comb / beta, comb - 0.5 * beta)


def giou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``1 - GIoU`` (Rezatofighi et al., CVPR 2019), ``[N]``."""
    return 1 - _aligned_overlaps(pred, target, "giou", eps)


def _iou_and_centre_terms(
    pred: torch.Tensor, target: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU (union + eps) and ``rho² / c²``: squared centre distance over the squared diagonal of
    the enclosing box (+ eps), both ``[N]``."""
    wh = (torch.min(pred[:, 2:], target[:, 2:]) - torch.max(pred[:, :2], target[:, :2])).clamp(
        min=0
    )
    overlap = wh[:, 0] * wh[:, 1]
    ap = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    ag = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    ious = overlap / (ap + ag - overlap + eps)
    enclose_wh = (
        torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])
    ).clamp(min=0)
    c2 = enclose_wh[:, 0] ** 2 + enclose_wh[:, 1] ** 2 + eps
    left = ((target[:, 0] + target[:, 2]) - (pred[:, 0] + pred[:, 2])) ** 2 / 4
    right = ((target[:, 1] + target[:, 3]) - (pred[:, 1] + pred[:, 3])) ** 2 / 4
    return ious, (left + right) / c2


def diou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``1 - DIoU``, ``DIoU = IoU - rho²/c²`` (Zheng et al., AAAI 2020), ``[N]``."""
    ious, centre = _iou_and_centre_terms(pred, target, eps)
    return 1 - (ious - centre)


def ciou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``1 - CIoU`` clamped to ``[0, 2]``: DIoU minus ``alpha v``, ``v`` the aspect-ratio
    discrepancy ``4/pi² (atan(w_t/h_t) - atan(w_p/h_p))²`` and ``alpha = v / (1 - IoU + v)``
    where IoU > 0.5 (else 0; no gradient through ``alpha``), ``[N]``."""
    ious, centre = _iou_and_centre_terms(pred, target, eps)
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    v = (4 / math.pi**2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = (ious > 0.5).float() * v / (1 - ious + v)
    cious = ious - (centre + alpha * v)
    return 1 - cious.clamp(min=-1.0, max=1.0)


class _BoxLoss(nn.Module):
    """Weighting, reduction and mmdet's shortcuts shared by the IoU-family modules."""

    #: average a ``[N, 4]`` weight over the coordinates (the element loss is ``[N]``)
    mean_coordinate_weight = True

    def __init__(self, eps: float, reduction: str, loss_weight: float) -> None:
        super().__init__()
        self.eps = eps
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def zero_weight_shortcut(self, reduction: str) -> bool:
        """Whether an all-non-positive weight returns ``(pred * weight).sum()``."""
        return True

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """``pred``, ``target``: ``[N, 4]`` xyxy; ``weight``: ``[N]`` or ``[N, 4]``."""
        reduction = check_reduction(reduction_override or self.reduction)
        if (
            weight is not None
            and not torch.any(weight > 0)
            and self.zero_weight_shortcut(reduction)
        ):
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        if self.mean_coordinate_weight and weight is not None and weight.dim() > 1:
            if weight.shape != pred.shape:
                raise ValueError(
                    f"{type(self).__name__}: weight {tuple(weight.shape)} must be [N] or pred's "
                    f"shape {tuple(pred.shape)}"
                )
            weight = weight.mean(-1)
        loss = self.element_loss(pred, target)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class IoULoss(_BoxLoss):
    """IoU loss (UnitBox, Yu et al., 2016).

    Args:
        linear: deprecated spelling of ``mode='linear'``.
        eps: lower bound of the IoU.
        reduction: none / mean / sum.
        loss_weight: multiplier.
        mode: ``'linear'`` (``1 - IoU``), ``'square'`` or ``'log'`` (``-log IoU``).
    """

    def __init__(
        self,
        linear: bool = False,
        eps: float = 1e-6,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        mode: str = "log",
    ) -> None:
        super().__init__(eps, reduction, loss_weight)
        if mode not in _IOU_MODES:
            raise ValueError(f"IoULoss mode must be one of {_IOU_MODES}, got {mode!r}")
        if linear:
            mode = "linear"
            warnings.warn(
                "IoULoss: linear=True is deprecated, use mode='linear'",
                DeprecationWarning,
                stacklevel=2,
            )
        self.mode = mode
        self.linear = linear

    def zero_weight_shortcut(self, reduction: str) -> bool:
        return reduction != "none"

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return iou_loss(pred, target, mode=self.mode, eps=self.eps)


@MODELS.register_module()
class BoundedIoULoss(_BoxLoss):
    """Bounded IoU loss; the element loss is ``[N, 4]`` and a weight ``[N, 4]`` applies per term.

    Args:
        beta: smooth-L1 transition point.
        eps: added to the denominators.
        reduction: none / mean / sum.
        loss_weight: multiplier.
    """

    mean_coordinate_weight = False

    def __init__(
        self,
        beta: float = 0.2,
        eps: float = 1e-3,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(eps, reduction, loss_weight)
        self.beta = beta

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return bounded_iou_loss(pred, target, beta=self.beta, eps=self.eps)


@MODELS.register_module()
class GIoULoss(_BoxLoss):
    """``1 - GIoU``. Args: eps (union and enclosing-area floor), reduction, loss_weight."""

    def __init__(
        self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__(eps, reduction, loss_weight)

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return giou_loss(pred, target, eps=self.eps)


@MODELS.register_module()
class DIoULoss(_BoxLoss):
    """``1 - DIoU``. Args: eps (added to the union and the diagonal), reduction, loss_weight."""

    def __init__(
        self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__(eps, reduction, loss_weight)

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return diou_loss(pred, target, eps=self.eps)


@MODELS.register_module()
class CIoULoss(_BoxLoss):
    """``1 - CIoU``. Args: eps (added to the union, diagonal and heights), reduction,
    loss_weight."""

    def __init__(
        self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0
    ) -> None:
        super().__init__(eps, reduction, loss_weight)

    def element_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ciou_loss(pred, target, eps=self.eps)
