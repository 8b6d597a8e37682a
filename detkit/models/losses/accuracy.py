"""``accuracy`` / ``Accuracy`` (MMDetection v2): top-k classification accuracy in percent."""

from __future__ import annotations

from typing import overload

import torch
import torch.nn as nn

__all__ = ["accuracy", "Accuracy"]


@overload
def accuracy(
    pred: torch.Tensor, target: torch.Tensor, topk: int = 1, thresh: float | None = None
) -> torch.Tensor: ...


@overload
def accuracy(
    pred: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...], thresh: float | None = None
) -> list[torch.Tensor]: ...


def accuracy(
    pred: torch.Tensor,
    target: torch.Tensor,
    topk: int | tuple[int, ...] = 1,
    thresh: float | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """Percentage of rows of ``pred`` ``[N, C]`` whose ``k`` best classes hold ``target`` ``[N]``.

    Args:
        pred: class scores ``[N, C]``.
        target: int64 class indices ``[N]``.
        topk: an int (one result) or a tuple of ints (one result each).
        thresh: a hit also needs its predicted score ``> thresh``.

    Returns:
        For an int ``topk`` a tensor ``[1]``, else a list of them; 0 when ``N == 0``.
    """
    if not isinstance(topk, (int, tuple)):
        raise TypeError(f"accuracy: topk must be an int or a tuple of ints, got {topk!r}")
    ks = (topk,) if isinstance(topk, int) else topk
    if pred.size(0) == 0:
        empty = [pred.new_tensor(0.0) for _ in ks]
        return empty[0] if isinstance(topk, int) else empty
    if pred.ndim != 2 or target.ndim != 1 or pred.size(0) != target.size(0):
        raise ValueError(
            f"accuracy needs pred [N, C] and target [N], got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    maxk = max(ks)
    if maxk > pred.size(1):
        raise ValueError(f"accuracy: topk {maxk} exceeds the {pred.size(1)} classes of pred")
    pred_value, pred_label = pred.topk(maxk, dim=1)
    correct = pred_label.t().eq(target.view(1, -1).expand(maxk, -1))
    if thresh is not None:
        correct = correct & (pred_value > thresh).t()
    res = [
        correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / pred.size(0)) for k in ks
    ]
    return res[0] if isinstance(topk, int) else res


class Accuracy(nn.Module):
    """Module form of :func:`accuracy` with fixed ``topk`` and ``thresh``."""

    def __init__(self, topk: int | tuple[int, ...] = (1,), thresh: float | None = None) -> None:
        super().__init__()
        self.topk = topk
        self.thresh = thresh

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor | list[torch.Tensor]:
        return accuracy(pred, target, self.topk, self.thresh)
