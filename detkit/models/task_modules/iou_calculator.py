"""IoU / IoF between box sets (``BboxOverlaps2D``), on ``torchvision.ops.box_iou``."""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from detkit.registry import IOU_CALCULATORS

__all__ = ["BboxOverlaps2D", "bbox_overlaps"]


def bbox_overlaps(bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou") -> torch.Tensor:
    """Pairwise overlaps ``[N, M]`` of xyxy boxes ``[N, 4]`` and ``[M, 4]`` (a 5th score column is
    ignored). ``'iou'``: intersection / union (0 where the union is 0); ``'iof'``:
    intersection / area of ``bboxes1``. Areas have no +1."""
    if mode not in ("iou", "iof"):
        raise ValueError(f"overlap mode must be 'iou' or 'iof', got {mode!r}")
    bboxes1, bboxes2 = bboxes1[..., :4], bboxes2[..., :4]
    if bboxes1.numel() == 0 or bboxes2.numel() == 0:
        return bboxes1.new_zeros((bboxes1.shape[0], bboxes2.shape[0]))
    if mode == "iou":
        return torch.nan_to_num(box_iou(bboxes1, bboxes2), nan=0.0)
    lt = torch.max(bboxes1[:, None, :2], bboxes2[None, :, :2])
    rb = torch.min(bboxes1[:, None, 2:], bboxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    area1 = (bboxes1[:, 2] - bboxes1[:, 0]) * (bboxes1[:, 3] - bboxes1[:, 1])
    return wh[..., 0] * wh[..., 1] / area1[:, None].clamp(min=1e-6)


@IOU_CALCULATORS.register_module()
class BboxOverlaps2D:
    """Callable ``(bboxes1, bboxes2, mode='iou'|'iof') -> [N, M]`` overlaps."""

    def __call__(
        self, bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou"
    ) -> torch.Tensor:
        return bbox_overlaps(bboxes1, bboxes2, mode)
