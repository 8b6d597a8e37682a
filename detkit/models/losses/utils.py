"""mmdet's loss reduction: element weights, ``avg_factor`` and ``reduction``."""

from __future__ import annotations

import torch

__all__ = ["weight_reduce_loss", "check_reduction", "empty_target_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` after checking it is one of none/mean/sum."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"loss reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def weight_reduce_loss(
    loss: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Multiply element-wise by ``weight``, then reduce.

    With ``avg_factor`` and ``'mean'`` the result is ``sum / (avg_factor + eps_float32)``;
    ``avg_factor`` with ``'sum'`` is an error (as in mmdet).
    """
    check_reduction(reduction)
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction == "sum":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def empty_target_loss(pred: torch.Tensor, reduction: str, avg_factor: float | None) -> torch.Tensor:
    """The loss of a regression with no targets: ``pred.sum() * 0`` (a zero that keeps the
    graph), reduced without weights so that ``avg_factor`` with ``'sum'`` still raises; mmdet
    multiplies it by the empty weight, which turns a plain mean into NaN."""
    return weight_reduce_loss(pred.sum() * 0, None, reduction, avg_factor)
