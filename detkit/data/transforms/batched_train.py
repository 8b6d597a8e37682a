"""The seed's train pipeline after loading, on a batch of device tensors: AutoAugment (batched,
see :mod:`detkit.data.transforms.batched`) -> Resize -> RandomFlip -> Normalize -> Pad.

Random parameters are drawn up front per sample in the per-sample pipeline's order (policy,
then the Resize scale, then the flip), so a seed gives the same choices as running the
per-sample pipeline sample after sample. Resize is bilinear (``align_corners=False``, no
antialias, like ``cv2.INTER_LINEAR``) with the result rounded to integers as the uint8 path
does; masks are resized nearest. The output images are normalised float32, zero-padded to a
common size divisible by ``Pad.size_divisor``; each sample's masks are padded to its own
``pad_shape`` as in MMDetection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf

from detkit.data.transforms.batched import (
    BatchedInstances,
    PolicyStep,
    apply_autoaugment_batched,
    draw_autoaugment,
)
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize
from detkit.structures.boxes import flip_boxes
from detkit.structures.masks import rescale_size

__all__ = ["TrainDraw", "BatchedTrainOutput", "draw_train", "batched_train_transforms"]


@dataclass(frozen=True)
class TrainDraw:
    """Random choices for one sample: AutoAugment steps, Resize scale, flip direction."""

    steps: list[PolicyStep]
    scale: tuple[int, int]
    flip_direction: str | None


@dataclass
class BatchedTrainOutput:
    """``images`` ``(B, 3, H, W)`` float32 normalised and padded; per-sample ``instances``;
    ``img_metas`` with ``img_shape``, ``pad_shape``, ``scale_factor``, ``flip``,
    ``flip_direction``, ``img_norm_cfg`` as the per-sample pipeline sets them."""

    images: torch.Tensor
    instances: BatchedInstances
    img_metas: list[dict[str, Any]]


def draw_train(
    aug: AutoAugment, resize: Resize, flip: RandomFlip, batch_size: int
) -> list[TrainDraw]:
    """Per-sample draws in the per-sample pipeline's order (NumPy global RNG)."""
    draws = []
    for _ in range(batch_size):
        steps = draw_autoaugment(aug, 1)[0]
        results: dict[str, Any] = {}
        resize.random_scale(results)
        draws.append(TrainDraw(steps, tuple(results["scale"]), flip.draw_direction()))
    return draws


def _resize_sample(
    img: torch.Tensor,
    masks: torch.Tensor,
    boxes: torch.Tensor,
    hw: tuple[int, int],
    scale: tuple[int, int],
    keep_ratio: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    h, w = hw
    new_w, new_h = rescale_size((w, h), scale) if keep_ratio else (int(scale[0]), int(scale[1]))
    resized = (
        nnf.interpolate(
            img[None, :, :h, :w].float(), size=(new_h, new_w), mode="bilinear", align_corners=False
        )[0]
        .round_()
        .clamp_(0, 255)
    )
    if len(masks):
        masks = nnf.interpolate(masks[None, :, :h, :w], size=(new_h, new_w), mode="nearest")[0]
    else:
        masks = masks.new_zeros((0, new_h, new_w))
    factor = np.array([new_w / w, new_h / h, new_w / w, new_h / h], dtype=np.float32)
    boxes = boxes * torch.as_tensor(factor, device=boxes.device)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, new_w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, new_h)
    return resized, masks, boxes, factor


def _flip_sample(
    img: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor, direction: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, w = img.shape[-2:]
    dims = {"horizontal": [-1], "vertical": [-2], "diagonal": [-2, -1]}[direction]
    return img.flip(dims), masks.flip(dims), flip_boxes(boxes, (h, w), direction)


def batched_train_transforms(
    images: torch.Tensor,
    image_hw: list[tuple[int, int]],
    instances: BatchedInstances,
    draws: list[TrainDraw],
    resize: Resize,
    normalize: Normalize,
    pad: Pad,
) -> BatchedTrainOutput:
    """Run AutoAugment -> Resize -> RandomFlip -> Normalize -> Pad on a padded uint8 BGR batch
    ``(B, 3, H, W)`` (any device) with the given per-sample ``draws``."""
    if pad.size_divisor is None:
        raise ValueError("batched_train_transforms supports Pad(size_divisor=...) only")
    images, instances = apply_autoaugment_batched(
        images, image_hw, instances, [d.steps for d in draws]
    )
    device = images.device
    mean = torch.as_tensor(normalize.mean, device=device).view(3, 1, 1)
    std = torch.as_tensor(normalize.std, device=device).view(3, 1, 1)
    div = int(pad.size_divisor)
    outs, boxes_out, masks_out = [], [], []
    metas: list[dict[str, Any]] = []
    for i, draw in enumerate(draws):
        masks = (
            instances.masks[i]
            if instances.masks is not None
            else images.new_zeros((0,) + images.shape[-2:])
        )
        img, masks, boxes, factor = _resize_sample(
            images[i], masks, instances.boxes[i], image_hw[i], draw.scale, resize.keep_ratio
        )
        if draw.flip_direction is not None:
            img, masks, boxes = _flip_sample(img, masks, boxes, draw.flip_direction)
        if normalize.to_rgb:
            img = img[[2, 1, 0]]
        img = (img - mean) / std
        h, w = img.shape[-2:]
        pad_h, pad_w = int(math.ceil(h / div)) * div, int(math.ceil(w / div)) * div
        masks_out.append(nnf.pad(masks, (0, pad_w - w, 0, pad_h - h)))
        outs.append(img)
        boxes_out.append(boxes)
        metas.append(
            dict(
                img_shape=(h, w, 3),
                pad_shape=(pad_h, pad_w, 3),
                scale_factor=factor,
                flip=draw.flip_direction is not None,
                flip_direction=draw.flip_direction,
                img_norm_cfg=dict(mean=normalize.mean, std=normalize.std, to_rgb=normalize.to_rgb),
            )
        )
    batch_h = max(m["pad_shape"][0] for m in metas)
    batch_w = max(m["pad_shape"][1] for m in metas)
    batch = images.new_zeros((len(outs), 3, batch_h, batch_w), dtype=torch.float32)
    for i, img in enumerate(outs):
        batch[i, :, : img.shape[1], : img.shape[2]] = img
    return BatchedTrainOutput(
        batch, BatchedInstances(boxes_out, instances.labels, masks_out), metas
    )
