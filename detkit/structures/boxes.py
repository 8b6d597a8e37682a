"""Box helpers shared by data and models: conversion, areas, clipping, flipping, mapping
between original and augmented images, and packing per-image boxes into RoIs.

Convention everywhere in detkit: boxes are ``[N, 4]`` float32 ``(x1, y1, x2, y2)`` in absolute
pixels, with ``width = x2 - x1`` and ``height = y2 - y1`` (no ``+1``). COCO files store
``[x, y, w, h]``; convert at the file boundary with :func:`xywh_to_xyxy` / :func:`xyxy_to_xywh`.
The conversion, area, clipping and flipping functions accept NumPy arrays or torch tensors and
return the same kind; the mapping and RoI functions work on tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

if TYPE_CHECKING:
    from detkit.structures.instances import Instances

BoxArray = TypeVar("BoxArray", NDArray[Any], torch.Tensor)

__all__ = [
    "empty_boxes",
    "check_boxes",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "box_areas",
    "clip_boxes",
    "flip_boxes",
    "bbox_flip",
    "bbox_mapping",
    "bbox_mapping_back",
    "bbox2roi",
    "instances_to_rois",
    "roi2bbox",
    "mask2bbox",
]

FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def empty_boxes() -> NDArray[Any]:
    """A ``(0, 4)`` float32 array: the boxes of an image without instances."""
    return np.zeros((0, 4), dtype=np.float32)


def check_boxes(boxes: NDArray[Any] | torch.Tensor, name: str = "boxes") -> None:
    """Raise ValueError unless ``boxes`` has shape ``[N, 4]``.

    Args:
        boxes: array or tensor to check.
        name: what the boxes are, for the message (e.g. ``'gt_bboxes of img_001.png'``).
    """
    if not isinstance(boxes, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(boxes).__name__}"
        )
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
    areas: NDArray[Any] = np.clip(widths, 0, None) * np.clip(heights, 0, None)
    return areas


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


def flip_boxes(
    boxes: BoxArray, img_shape: Sequence[int], direction: str = "horizontal"
) -> BoxArray:
    """Flip ``[..., 4k]`` xyxy boxes inside an image of ``img_shape = (h, w, ...)``
    (mmdet ``bbox_flip``): ``x -> w - x`` horizontally, ``y -> h - y`` vertically, both for
    ``'diagonal'``."""
    if direction not in FLIP_DIRECTIONS:
        raise ValueError(f"flip direction must be one of {FLIP_DIRECTIONS}, got {direction!r}")
    if boxes.shape[-1] % 4 != 0:
        raise ValueError(f"boxes must have 4k columns, got shape {tuple(boxes.shape)}")
    h, w = img_shape[0], img_shape[1]
    flipped = boxes.clone() if isinstance(boxes, torch.Tensor) else boxes.copy()
    if direction in ("horizontal", "diagonal"):
        flipped[..., 0::4] = w - boxes[..., 2::4]
        flipped[..., 2::4] = w - boxes[..., 0::4]
    if direction in ("vertical", "diagonal"):
        flipped[..., 1::4] = h - boxes[..., 3::4]
        flipped[..., 3::4] = h - boxes[..., 1::4]
    return flipped


bbox_flip = flip_boxes  # MMDetection v2's name (``mmdet.core.bbox_flip``)


def bbox_mapping(
    bboxes: torch.Tensor,
    img_shape: Sequence[int],
    scale_factor: Any,
    flip: bool,
    flip_direction: str = "horizontal",
) -> torch.Tensor:
    """Original-image boxes ``[N, 4]`` → boxes of an augmented (scaled, maybe flipped) image."""
    new = bboxes * bboxes.new_tensor(scale_factor)
    return flip_boxes(new, img_shape, flip_direction) if flip else new


def bbox_mapping_back(
    bboxes: torch.Tensor,
    img_shape: Sequence[int],
    scale_factor: Any,
    flip: bool,
    flip_direction: str = "horizontal",
) -> torch.Tensor:
    """Boxes ``[N, 4k]`` of an augmented image → original-image boxes."""
    new = flip_boxes(bboxes, img_shape, flip_direction) if flip else bboxes
    return (new.reshape(-1, 4) / new.new_tensor(scale_factor)).view(bboxes.shape)


def bbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate per-image boxes ``[N_i, 4+]`` into RoIs ``[sum N_i, 5]``
    ``[batch_idx, x1, y1, x2, y2]``."""
    rois = []
    for img_id, bboxes in enumerate(bbox_list):
        if bboxes.size(0) > 0:
            inds = bboxes.new_full((bboxes.size(0), 1), img_id)
            rois.append(torch.cat([inds, bboxes[:, :4]], dim=-1))
        else:
            rois.append(bboxes.new_zeros((0, 5)))
    return torch.cat(rois, 0)


def instances_to_rois(instances: Instances) -> torch.Tensor:
    """RoIs ``[K, 5]`` ``[image_index, x1, y1, x2, y2]`` (RoIAlign's input) of flat
    ``Instances`` with ``boxes`` ``[K, 4]`` and ``image_index`` ``[K]``."""
    boxes = instances.boxes
    return torch.cat([instances.image_index[:, None].to(boxes.dtype), boxes], dim=1)


def roi2bbox(rois: torch.Tensor) -> list[torch.Tensor]:
    """Split RoIs ``[K, 5]`` ``[batch_idx, x1, y1, x2, y2]`` into per-image boxes ``[K_i, 4]``
    (mmdet ``roi2bbox``): one entry per batch index present, in increasing order."""
    if rois.dim() != 2 or rois.size(1) < 5:
        raise ValueError(
            f"rois must have shape [K, 5] (batch_idx, x1, y1, x2, y2), got {tuple(rois.shape)}"
        )
    img_ids = torch.unique(rois[:, 0].cpu(), sorted=True)
    return [rois[rois[:, 0] == img_id.item(), 1:] for img_id in img_ids]


def mask2bbox(masks: BoxArray) -> BoxArray:
    """Tight xyxy boxes ``[N, 4]`` float32 of ``[N, H, W]`` masks (mmdet ``mask2bbox``): a box
    ends one pixel past the last non-zero column/row; an empty mask gives ``[0, 0, 0, 0]``.
    Tensors give a tensor on the same device, arrays an array."""
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape [N, H, W], got {tuple(masks.shape)}")
    if isinstance(masks, np.ndarray):
        return mask2bbox(torch.from_numpy(np.ascontiguousarray(masks))).numpy()
    stack = masks.bool()
    boxes = torch.zeros((stack.shape[0], 4), dtype=torch.float32, device=stack.device)
    if stack.numel() == 0:
        return boxes
    for axis, (lo, hi) in ((1, (0, 2)), (2, (1, 3))):  # columns give x, rows give y
        hits = stack.any(dim=axis)
        size = hits.shape[1]
        first = hits.int().argmax(dim=1)
        last = size - 1 - hits.flip(1).int().argmax(dim=1)
        boxes[:, lo], boxes[:, hi] = first.float(), (last + 1).float()
    boxes[~stack.flatten(1).any(dim=1)] = 0
    return boxes
