"""Box helpers shared by data and models.

Convention everywhere in detkit: boxes are ``[N, 4]`` float32 ``(x1, y1, x2, y2)`` in absolute
pixels, with ``width = x2 - x1`` and ``height = y2 - y1`` (no ``+1``). COCO files store
``[x, y, w, h]``; convert at the file boundary with :func:`xywh_to_xyxy` / :func:`xyxy_to_xywh`.
Every function accepts NumPy arrays or torch tensors and returns the same kind.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

BoxArray = TypeVar("BoxArray", np.ndarray, torch.Tensor)

__all__ = ["empty_boxes", "check_boxes", "xywh_to_xyxy", "xyxy_to_xywh", "box_areas", "clip_boxes"]


def empty_boxes() -> np.ndarray:
    """A ``(0, 4)`` float32 array: the boxes of an image without instances."""
    return np.zeros((0, 4), dtype=np.float32)


def check_boxes(boxes: np.ndarray | torch.Tensor, name: str = "boxes") -> None:
    """Raise ValueError unless ``boxes`` has shape ``[N, 4]``.

    Args:
        boxes: array or tensor to check.
        name: what the boxes are, for the message (e.g. ``'gt_bboxes of img_001.png'``).
    """
    if not isinstance(boxes, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, 4], got {tuple(boxes.shape)}")


def xywh_to_xyxy(boxes: BoxArray) -> BoxArray:
    """``[N, 4]`` ``(x, y, w, h)`` -> ``[N, 4]`` ``(x1, y1, x2, y2)`` with ``x2 = x + w``."""
    check_boxes(boxes)
    out = boxes.clone() if isinstance(boxes, torch.Tensor) else boxes.copy()
    out[:, 2:] = boxes[:, :2] + boxes[:, 2:]
    return out


def xyxy_to_xywh(boxes: BoxArray) -> BoxArray:
    """``[N, 4]`` ``(x1, y1, x2, y2)`` -> ``[N, 4]`` ``(x, y, w, h)`` with ``w = x2 - x1``."""
    check_boxes(boxes)
    out = boxes.clone() if isinstance(boxes, torch.Tensor) else boxes.copy()
    out[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    return out


def box_areas(boxes: BoxArray) -> BoxArray:
    """``[N]`` areas ``(x2 - x1) * (y2 - y1)`` of ``[N, 4]`` xyxy boxes (negative sides give 0)."""
    check_boxes(boxes)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    if isinstance(boxes, torch.Tensor):
        return widths.clamp(min=0) * heights.clamp(min=0)
    return np.clip(widths, 0, None) * np.clip(heights, 0, None)


def clip_boxes(boxes: BoxArray, height: int, width: int) -> BoxArray:
    """Copy of ``[N, 4]`` xyxy boxes clipped to ``0 <= x <= width``, ``0 <= y <= height``."""
    check_boxes(boxes)
    if isinstance(boxes, torch.Tensor):
        out = boxes.clone()
        out[:, 0::2] = out[:, 0::2].clamp(0, width)
        out[:, 1::2] = out[:, 1::2].clamp(0, height)
        return out
    out = boxes.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out
