"""``bbox_overlaps``: pairwise (or aligned) IoU / IoF / GIoU of xyxy boxes, MMDetection v2's
two forms in one function.

- torch tensors (``mmdet.core.bbox.bbox_overlaps``): boxes ``[..., M, 4]`` and ``[..., N, 4]``
  with broadcastable batch dims; modes ``'iou'``, ``'iof'``, ``'giou'``; ``is_aligned`` gives
  ``[..., M]`` instead of ``[..., M, N]``; the union (or enclosing area) is clamped to ``eps``.
- NumPy arrays (``mmdet.core.evaluation.bbox_overlaps``): boxes ``[M, 4]`` and ``[N, 4]``,
  float32 ``[M, N]``; modes ``'iou'`` and ``'iof'``; ``use_legacy_coordinate`` adds 1 to
  widths and heights (MMDetection v1's convention).

Areas have no ``+1`` otherwise; ``'iof'`` divides by the area of ``bboxes1``.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["bbox_overlaps"]

_TORCH_MODES = ("iou", "iof", "giou")
_NUMPY_MODES = ("iou", "iof")


def _check_last_dim(boxes: NDArray[Any] | torch.Tensor, name: str) -> None:
    if boxes.shape[-1] != 4 and boxes.shape[0] != 0:
        raise ValueError(
            f"bbox_overlaps: {name} must have 4 columns (xyxy), got shape {tuple(boxes.shape)}"
        )


def _overlaps_torch(
    bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str, is_aligned: bool, eps: float
) -> torch.Tensor:
    if bboxes1.shape[:-2] != bboxes2.shape[:-2]:
        raise ValueError(
            f"bbox_overlaps: batch dims differ, {tuple(bboxes1.shape)} and {tuple(bboxes2.shape)}"
        )
    rows, cols = bboxes1.size(-2), bboxes2.size(-2)
    batch_shape = bboxes1.shape[:-2]
    if is_aligned and rows != cols:
        raise ValueError(
            f"bbox_overlaps: is_aligned needs as many boxes in both sets, got {rows} and {cols}"
        )
    if rows * cols == 0:
        return bboxes1.new_zeros(batch_shape + ((rows,) if is_aligned else (rows, cols)))
    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    if is_aligned:
        b1, b2, a2 = bboxes1, bboxes2, area2
        a1 = area1
    else:
        b1, b2 = bboxes1[..., :, None, :], bboxes2[..., None, :, :]
        a1, a2 = area1[..., None], area2[..., None, :]
    lt = torch.max(b1[..., :2], b2[..., :2])
    rb = torch.min(b1[..., 2:], b2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = a1 + a2 - overlap if mode in ("iou", "giou") else a1
    union = torch.max(union, union.new_tensor([eps]))
    ious = overlap / union
    if mode != "giou":
        return ious
    enclosed_wh = torch.max(b1[..., 2:], b2[..., 2:]) - torch.min(b1[..., :2], b2[..., :2])
    enclosed_wh = enclosed_wh.clamp(min=0)
    enclose_area = torch.max(enclosed_wh[..., 0] * enclosed_wh[..., 1], union.new_tensor([eps]))
    return ious - (enclose_area - union) / enclose_area


def _overlaps_numpy(
    bboxes1: NDArray[Any], bboxes2: NDArray[Any], mode: str, eps: float, use_legacy_coordinate: bool
) -> NDArray[Any]:
    extra = 1.0 if use_legacy_coordinate else 0.0
    bboxes1 = np.asarray(bboxes1, dtype=np.float32).reshape(-1, 4)
    bboxes2 = np.asarray(bboxes2, dtype=np.float32).reshape(-1, 4)
    if bboxes1.shape[0] * bboxes2.shape[0] == 0:
        return np.zeros((bboxes1.shape[0], bboxes2.shape[0]), dtype=np.float32)
    area1 = (bboxes1[:, 2] - bboxes1[:, 0] + extra) * (bboxes1[:, 3] - bboxes1[:, 1] + extra)
    area2 = (bboxes2[:, 2] - bboxes2[:, 0] + extra) * (bboxes2[:, 3] - bboxes2[:, 1] + extra)
    lt = np.maximum(bboxes1[:, None, :2], bboxes2[None, :, :2])
    rb = np.minimum(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = np.maximum(rb - lt + extra, 0)
    overlap = wh[..., 0] * wh[..., 1]
    union = (
        area1[:, None] + area2[None, :] - overlap
        if mode == "iou"
        else np.broadcast_to(area1[:, None], overlap.shape)
    )
    ious: NDArray[Any] = (overlap / np.maximum(union, eps)).astype(np.float32)
    return ious


def bbox_overlaps(
    bboxes1: NDArray[Any] | torch.Tensor,
    bboxes2: NDArray[Any] | torch.Tensor,
    mode: str = "iou",
    is_aligned: bool = False,
    eps: float = 1e-6,
    use_legacy_coordinate: bool = False,
) -> NDArray[Any] | torch.Tensor:
    """Overlaps between two sets of xyxy boxes (see the module docstring for both forms).

    Args:
        bboxes1: ``[..., M, 4]`` tensor or ``[M, 4]`` array.
        bboxes2: ``[..., N, 4]`` tensor or ``[N, 4]`` array (same kind as ``bboxes1``).
        mode: ``'iou'``, ``'iof'`` or (tensors only) ``'giou'``.
        is_aligned: tensors only: overlap of ``bboxes1[i]`` with ``bboxes2[i]``.
        eps: lower bound of the denominator.
        use_legacy_coordinate: arrays only: ``+1`` on widths and heights.

    Returns:
        ``[..., M, N]`` (or ``[..., M]`` aligned) tensor; float32 ``[M, N]`` array.
    """
    if isinstance(bboxes1, torch.Tensor) != isinstance(bboxes2, torch.Tensor):
        raise TypeError(
            f"bbox_overlaps: both box sets must be tensors or both arrays, got "
            f"{type(bboxes1).__name__} and {type(bboxes2).__name__}"
        )
    _check_last_dim(bboxes1, "bboxes1")
    _check_last_dim(bboxes2, "bboxes2")
    if isinstance(bboxes1, torch.Tensor):  # bboxes2 is of the same kind (checked above)
        if mode not in _TORCH_MODES:
            raise ValueError(f"bbox_overlaps: mode must be one of {_TORCH_MODES}, got {mode!r}")
        if use_legacy_coordinate:
            raise ValueError("bbox_overlaps: use_legacy_coordinate is for NumPy arrays only")
        return _overlaps_torch(bboxes1, cast(torch.Tensor, bboxes2), mode, is_aligned, eps)
    if mode not in _NUMPY_MODES:
        raise ValueError(
            f"bbox_overlaps: mode must be one of {_NUMPY_MODES} for NumPy arrays, got {mode!r}"
        )
    if is_aligned:
        raise ValueError("bbox_overlaps: is_aligned is for torch tensors only")
    return _overlaps_numpy(bboxes1, cast(NDArray[Any], bboxes2), mode, eps, use_legacy_coordinate)
