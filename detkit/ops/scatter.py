"""Rows of several tensors written into one, with a gradient that gathers each part's rows.

A RoI extractor pools each FPN level's RoIs apart and writes them into one ``[K, C, h, w]``
tensor. Written level by level into a tensor that autograd records, every write after the
first keeps a zeroed copy of the whole gradient (the rows it overwrote): ``[512, 256, 7, 7]``
per level for a box head. :func:`scatter_rows` is one autograd op instead, whose backward
gathers each part's rows; values and gradients are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["scatter_rows"]


class _ScatterRows(torch.autograd.Function):
    """``[num, ...]`` (contiguous, ``dtype``) whose rows ``rows[i]`` are ``values[i]``."""

    @staticmethod
    def forward(
        ctx: Any, num: int, dtype: torch.dtype, rows: list[torch.Tensor], *values: torch.Tensor
    ) -> torch.Tensor:
        ctx.rows = rows
        ctx.dtypes = [part.dtype for part in values]
        out = values[0].new_empty(num, *values[0].shape[1:], dtype=dtype)
        for inds, part in zip(rows, values):
            out[inds] = part
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (None, None, None) + tuple(
            grad[inds].to(dtype) for inds, dtype in zip(ctx.rows, ctx.dtypes)
        )


def scatter_rows(
    num: int, dtype: torch.dtype, rows: Sequence[torch.Tensor], values: Sequence[torch.Tensor]
) -> torch.Tensor:
    """A contiguous ``[num, ...]`` tensor of ``dtype`` whose rows ``rows[i]`` (int64 ``[n_i]``)
    are ``values[i]`` ``[n_i, ...]``; every row is written by exactly one part (``values``
    non-empty, all of one shape after the first dimension)."""
    out: torch.Tensor = _ScatterRows.apply(num, dtype, list(rows), *values)
    return out
