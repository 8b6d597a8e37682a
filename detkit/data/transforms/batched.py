"""AutoAugment on a whole padded batch on any device (CPU or CUDA), for training runs that take
augmentation off the loader workers.

Random parameters are drawn up front with NumPy's global RNG, sample after sample, in exactly
the order the per-sample path draws them (policy choice, then for each transform its ``prob``
draw and its sign draw), so with the same seed both paths pick the same policies, angles and
offsets. Each step of the chosen policies is then applied to all samples that have one:

- geometric steps (``Rotate``/``Translate``/``Shear``) build one ``(B, 2, 3)`` matrix batch and
  warp all images with one ``affine_grid``/``grid_sample`` call, and all instance masks of all
  samples (concatenated) with a second one. The constant border is OpenCV's (warp
  ``img - fill`` with zero padding, add ``fill``); each sample's pixels outside its own
  ``(h, w)`` (batch padding) count as border, so a padded batch gives what each image alone gives;
- boxes move with the same matrices (NumPy-identical corner hull and clipping) and empty boxes
  are dropped with their labels and masks;
- photometric steps (Color/Brightness/Contrast/Equalize) run per sample on the device.

On CPU tensors the result equals the per-sample path for the same draws to within one grey
level (exactly for integer translations and multiples of 90 degrees; nearest-neighbour shears
may differ where a sample lands exactly half-way between pixels). Semantic segmentation maps
and polygon masks are not handled here (the seed pipeline has neither).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf

from detkit.data.transforms.geometric import Rotate, Shear, Translate
from detkit.data.transforms.photometric import (
    BrightnessTransform,
    ColorTransform,
    ContrastTransform,
    EqualizeTransform,
)
from detkit.data.transforms.policies import AutoAugment
from detkit.structures.affine import AffineParams

__all__ = [
    "PolicyStep",
    "BatchedInstances",
    "draw_autoaugment",
    "apply_autoaugment_batched",
    "autoaugment_batch",
]

_GEOMETRIC = (Rotate, Translate, Shear)
_PHOTOMETRIC = (ColorTransform, BrightnessTransform, ContrastTransform, EqualizeTransform)
_GRAY_WEIGHTS_BGR = (0.114, 0.587, 0.299)


@dataclass(frozen=True)
class PolicyStep:
    """One transform that fires for one sample, with its signed magnitude (angle in degrees,
    offset in pixels, shear magnitude; None for photometric transforms)."""

    transform: Any
    value: float | None

    @property
    def magnitude(self) -> float:
        """The signed magnitude of a geometric step (its ``value``, never None for one)."""
        if self.value is None:
            raise ValueError(f"{type(self.transform).__name__}: a geometric step needs a value")
        return float(self.value)


@dataclass
class BatchedInstances:
    """Per-sample ground truth on the batch's device.

    Attributes:
        boxes: ``B`` tensors ``[N_i, 4]`` float32 xyxy absolute pixels.
        labels: ``B`` tensors ``[N_i]`` int64.
        masks: ``B`` tensors ``[N_i, H, W]`` uint8 (0/1) at the padded batch size, or None.
    """

    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    masks: list[torch.Tensor] | None = None


def draw_autoaugment(aug: AutoAugment, batch_size: int) -> list[list[PolicyStep]]:
    """Draw, for each of ``batch_size`` samples, the steps that fire, consuming NumPy's global
    RNG exactly like ``batch_size`` successive per-sample ``aug(results)`` calls."""
    draws: list[list[PolicyStep]] = []
    for _ in range(batch_size):
        policy = aug.transforms[np.random.choice(len(aug.transforms))]
        steps = []
        for transform in policy:
            if not isinstance(transform, _GEOMETRIC + _PHOTOMETRIC):
                raise TypeError(f"batched AutoAugment does not support {type(transform).__name__}")
            if np.random.rand() > transform.prob:
                continue
            if isinstance(transform, Rotate):
                value = (
                    -transform.angle
                    if np.random.rand() < transform.random_negative_prob
                    else transform.angle
                )
            elif isinstance(transform, Translate):
                value = (
                    -transform.offset
                    if np.random.rand() < transform.random_negative_prob
                    else transform.offset
                )
            elif isinstance(transform, Shear):
                mag = transform.magnitude
                value = -mag if np.random.rand() < transform.random_negative_prob else mag
            else:
                value = None
            steps.append(PolicyStep(transform, value))
        draws.append(steps)
    return draws


def _step_params(step: PolicyStep, height: int, width: int) -> AffineParams:
    t, value = step.transform, step.magnitude
    if isinstance(t, Rotate):
        center = t.center if t.center is not None else ((width - 1) * 0.5, (height - 1) * 0.5)
        return AffineParams(angle=value, scale=t.scale, center=center)
    if isinstance(t, Translate):
        return AffineParams(translate=(value, 0.0) if t.direction == "horizontal" else (0.0, value))
    return AffineParams(shear=(value, 0.0) if t.direction == "horizontal" else (0.0, value))


def _theta(matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """``affine_grid`` theta (normalised, align_corners=False, output -> input) for the forward
    pixel-index ``matrix`` on a ``height x width`` canvas."""
    to_norm = np.array(
        [
            [2.0 / width, 0.0, 1.0 / width - 1.0],
            [0.0, 2.0 / height, 1.0 / height - 1.0],
            [0.0, 0.0, 1.0],
        ]
    )
    forward = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return (to_norm @ np.linalg.inv(forward) @ np.linalg.inv(to_norm))[:2]


def _warp_batch(
    stack: torch.Tensor, theta: torch.Tensor, fill: torch.Tensor, valid: torch.Tensor, mode: str
) -> torch.Tensor:
    """Warp ``(B, C, H, W)`` with per-sample ``theta``; ``fill`` ``(B, C, 1, 1)``; ``valid``
    ``(B, 1, H, W)`` marks each sample's own image area (outside counts as border)."""
    work = (stack.float() - fill) * valid
    grid = nnf.affine_grid(theta, list(work.shape), align_corners=False)
    warped = (
        nnf.grid_sample(work, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    )
    if stack.is_floating_point():
        return warped
    return warped.round_().clamp_(0, 255).to(stack.dtype)


def _warp_boxes(boxes: torch.Tensor, matrix: np.ndarray, height: int, width: int) -> torch.Tensor:
    corners = torch.stack(
        [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], 1
    )
    m = torch.as_tensor(matrix, dtype=torch.float64, device=boxes.device)
    mapped = corners.double() @ m[:, :2].T + m[:, 2]
    lo, hi = mapped.min(1).values, mapped.max(1).values
    x1 = lo[:, 0].clamp(0, width)
    y1 = lo[:, 1].clamp(0, height)
    # mmdet's clip(x2, x1, w) == max(min(x2, w), x1) because x1 <= w
    x2 = torch.maximum(hi[:, 0].clamp(max=width), x1)
    y2 = torch.maximum(hi[:, 1].clamp(max=height), y1)
    return torch.stack([x1, y1, x2, y2], 1).to(boxes.dtype)


def _translate_boxes(
    boxes: torch.Tensor, step: PolicyStep, height: int, width: int
) -> torch.Tensor:
    out = boxes.clone()
    lo, hi, limit = (0, 2, width) if step.transform.direction == "horizontal" else (1, 3, height)
    out[:, lo] = (boxes[:, lo] + step.magnitude).clamp(min=0)
    out[:, hi] = (boxes[:, hi] + step.magnitude).clamp(max=limit)
    return out


def _gray(img: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` BGR -> ``(1, H, W)`` float gray rounded to integers."""
    w = torch.tensor(_GRAY_WEIGHTS_BGR, dtype=torch.float32, device=img.device).view(3, 1, 1)
    return (img.float() * w).sum(0, keepdim=True).round()


def _photometric(img: torch.Tensor, transform: Any) -> torch.Tensor:
    """One photometric policy on a ``(3, H, W)`` uint8 BGR tensor (mmcv formulas)."""
    f = transform.factor
    if isinstance(transform, ColorTransform):
        return (img.float() * f + _gray(img) * (1 - f)).round().clamp(0, 255).to(torch.uint8)
    if isinstance(transform, BrightnessTransform):
        return (img.float() * f).clamp(0, 255).to(torch.uint8)
    if isinstance(transform, ContrastTransform):
        mean = float(torch.round(_gray(img).mean()))
        return (img.float() * f + mean * (1 - f)).clamp(0, 255).to(torch.uint8)
    channels = []
    for channel in img:
        histo = torch.bincount(channel.reshape(-1).long(), minlength=256)
        nonzero = histo[histo > 0]
        step = (int(nonzero.sum()) - int(nonzero[-1])) // 255
        if not step:
            channels.append(channel)
            continue
        lut = (torch.cumsum(histo, 0) + step // 2) // step
        lut = torch.cat([lut.new_zeros(1), lut[:-1]]).clamp(max=255).to(torch.uint8)
        channels.append(lut[channel.long()])
    return torch.stack(channels)


def _warp_group(
    images: torch.Tensor,
    masks: list[torch.Tensor] | None,
    group: list[int],
    steps: list[PolicyStep],
    matrices: list[np.ndarray],
    valid: torch.Tensor,
    mode: str,
) -> None:
    """Warp the images (one call) and all masks (one call) of the samples in ``group`` in place."""
    device = images.device
    pad_h, pad_w = images.shape[-2:]
    theta = torch.tensor(
        np.stack([_theta(m, pad_h, pad_w) for m in matrices]), dtype=torch.float32, device=device
    )
    fills = torch.tensor([s.transform.img_fill_val for s in steps], device=device).view(
        len(group), 3, 1, 1
    )
    sel = torch.tensor(group, device=device)
    warped = _warp_batch(images[sel], theta, fills, valid[sel], mode)
    images[sel] = warped * valid[sel].to(warped.dtype)
    if masks is None:
        return
    counts = [len(masks[i]) for i in group]
    if not sum(counts):
        return
    stack = torch.cat([masks[i] for i in group])[:, None]
    per_mask = torch.repeat_interleave(
        torch.arange(len(group), device=device), torch.tensor(counts, device=device)
    )
    zeros = torch.zeros((len(stack), 1, 1, 1), device=device)
    out = _warp_batch(stack, theta[per_mask], zeros, valid[sel][per_mask], mode)[:, 0]
    for i, part in zip(group, torch.split(out, counts)):
        masks[i] = part


def apply_autoaugment_batched(
    images: torch.Tensor,
    image_hw: list[tuple[int, int]],
    instances: BatchedInstances,
    draws: list[list[PolicyStep]],
) -> tuple[torch.Tensor, BatchedInstances]:
    """Apply drawn policies to a padded batch.

    Args:
        images: ``(B, 3, H, W)`` uint8 BGR, zero-padded at the bottom/right, any device.
        image_hw: each sample's own ``(h, w)`` inside the padded canvas.
        instances: per-sample boxes, labels and masks on the same device.
        draws: from :func:`draw_autoaugment`.

    Returns:
        The augmented images (padding kept at 0) and the filtered instances.
    """
    batch, _, pad_h, pad_w = images.shape
    if len(image_hw) != batch or len(draws) != batch or len(instances.boxes) != batch:
        raise ValueError(f"batch of {batch} images needs {batch} sizes, draws and box sets")
    device = images.device
    boxes, labels = list(instances.boxes), list(instances.labels)
    masks = list(instances.masks) if instances.masks is not None else None
    rows = torch.arange(pad_h, device=device).view(1, pad_h, 1)
    cols = torch.arange(pad_w, device=device).view(1, 1, pad_w)
    hw = torch.tensor(image_hw, device=device)
    valid = ((rows < hw[:, 0].view(-1, 1, 1)) & (cols < hw[:, 1].view(-1, 1, 1)))[:, None].float()
    images = images.clone()
    for k in range(max((len(d) for d in draws), default=0)):
        geo = [
            i
            for i in range(batch)
            if len(draws[i]) > k and isinstance(draws[i][k].transform, _GEOMETRIC)
        ]
        for i in range(batch):
            if len(draws[i]) > k and isinstance(draws[i][k].transform, _PHOTOMETRIC):
                h, w = image_hw[i]
                images[i, :, :h, :w] = _photometric(images[i, :, :h, :w], draws[i][k].transform)
        if not geo:
            continue
        matrices = {}
        for i in geo:
            h, w = image_hw[i]
            matrices[i] = _step_params(draws[i][k], h, w).matrix(h, w)
        for mode in ("bilinear", "nearest"):
            group = [
                i
                for i in geo
                if getattr(draws[i][k].transform, "interpolation", "bilinear") == mode
            ]
            if group:
                _warp_group(
                    images,
                    masks,
                    group,
                    [draws[i][k] for i in group],
                    [matrices[i] for i in group],
                    valid,
                    mode,
                )
        for i in geo:
            h, w = image_hw[i]
            step = draws[i][k]
            if isinstance(step.transform, Translate):
                boxes[i] = _translate_boxes(boxes[i], step, h, w)
                min_size = step.transform.min_size
            else:
                boxes[i] = _warp_boxes(boxes[i], matrices[i], h, w)
                min_size = 0
            keep = ((boxes[i][:, 2] - boxes[i][:, 0]) > min_size) & (
                (boxes[i][:, 3] - boxes[i][:, 1]) > min_size
            )
            boxes[i], labels[i] = boxes[i][keep], labels[i][keep]
            if masks is not None:
                masks[i] = masks[i][keep]
    return images, BatchedInstances(boxes, labels, masks)


def autoaugment_batch(
    aug: AutoAugment,
    images: torch.Tensor,
    image_hw: list[tuple[int, int]],
    instances: BatchedInstances,
) -> tuple[torch.Tensor, BatchedInstances]:
    """Draw per-sample parameters (NumPy global RNG) and apply them to the batch."""
    return apply_autoaugment_batched(
        images, image_hw, instances, draw_autoaugment(aug, len(images))
    )
