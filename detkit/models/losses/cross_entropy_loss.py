"""``CrossEntropyLoss`` (MMDetection v2): softmax CE, sigmoid BCE, or per-class mask BCE."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.losses.utils import check_reduction, weight_reduce_loss
from detkit.registry import MODELS

__all__ = ["CrossEntropyLoss", "cross_entropy", "binary_cross_entropy", "mask_cross_entropy"]


def cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Softmax CE of logits ``[N, C]`` vs int labels ``[N]``, weighted per sample."""
    ignore_index = -100 if ignore_index is None else ignore_index
    loss = F.cross_entropy(
        pred, label, weight=class_weight, reduction="none", ignore_index=ignore_index
    )
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _expand_onehot_labels(
    labels: torch.Tensor, label_weights: torch.Tensor | None, label_channels: int, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    valid_mask = (labels >= 0) & (labels != ignore_index)
    inds = torch.nonzero(valid_mask & (labels < label_channels), as_tuple=False)
    if inds.numel() > 0:
        bin_labels[inds, labels[inds]] = 1
    valid_mask = valid_mask.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_weights = valid_mask
    else:
        bin_weights = label_weights.view(-1, 1).repeat(1, label_channels) * valid_mask
    return bin_labels, bin_weights, valid_mask


def binary_cross_entropy(
    pred: torch.Tensor,
    label: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
    avg_non_ignore: bool = False,
) -> torch.Tensor:
    """Sigmoid BCE of logits ``[N, C]``; int labels ``[N]`` (C = background) are expanded to
    one-hot, otherwise ``label`` has ``pred``'s shape."""
    ignore_index = -100 if ignore_index is None else ignore_index
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(
            label, weight, pred.size(-1), ignore_index
        )
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = valid_mask.sum().item()
    loss = F.binary_cross_entropy_with_logits(
        pred, label.float(), pos_weight=class_weight, reduction="none"
    )
    return weight_reduce_loss(loss, weight.float(), reduction, avg_factor)


def mask_cross_entropy(
    pred: torch.Tensor,
    target: torch.Tensor,
    label: torch.Tensor,
    reduction: str = "mean",
    avg_factor: float | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
    **kwargs: object,
) -> torch.Tensor:
    """BCE of the ``label`` channel of mask logits ``[N, C, h, w]`` vs float targets
    ``[N, h, w]``, mean over all elements; returns shape ``[1]``."""
    inds = torch.arange(0, pred.size(0), dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label].squeeze(1)
    return F.binary_cross_entropy_with_logits(
        pred_slice, target, weight=class_weight, reduction="mean"
    )[None]


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss in its three mmdet flavours.

    Args:
        use_sigmoid: per-class sigmoid BCE (RPN).
        use_mask: mask BCE on the gt-class channel (mask heads).
        reduction: none / mean / sum.
        class_weight: per-class weights.
        ignore_index: label ignored in the loss.
        loss_weight: multiplier.
        avg_non_ignore: average over non-ignored elements only.
    """

    def __init__(
        self,
        use_sigmoid: bool = False,
        use_mask: bool = False,
        reduction: str = "mean",
        class_weight: Sequence[float] | None = None,
        ignore_index: int | None = None,
        loss_weight: float = 1.0,
        avg_non_ignore: bool = False,
    ) -> None:
        super().__init__()
        if use_sigmoid and use_mask:
            raise ValueError("CrossEntropyLoss: use_sigmoid and use_mask cannot both be True")
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight
        self.class_weight = class_weight
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore
        self.cls_criterion: Callable[..., torch.Tensor]
        if use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif use_mask:
            self.cls_criterion = mask_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        ignore_index: int | None = None,
        **kwargs: torch.Tensor,
    ) -> torch.Tensor:
        reduction = check_reduction(reduction_override or self.reduction)
        ignore_index = self.ignore_index if ignore_index is None else ignore_index
        class_weight = (
            None if self.class_weight is None else cls_score.new_tensor(self.class_weight)
        )
        if self.use_mask:
            return self.loss_weight * mask_cross_entropy(
                cls_score,
                label,
                cast(torch.Tensor, weight),  # mask mode: the per-RoI class labels
                reduction=reduction,
                avg_factor=avg_factor,
                class_weight=class_weight,
                ignore_index=ignore_index,
            )
        return self.loss_weight * self.cls_criterion(
            cls_score,
            label,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            class_weight=class_weight,
            ignore_index=ignore_index,
            avg_non_ignore=self.avg_non_ignore,
        )
