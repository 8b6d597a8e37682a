"""``collate``: batch samples produced by ``Collect`` (MMDetection v2 / mmcv semantics, no DataContainer).

Batch format (training, ``B`` samples)::

    img          float32 tensor [B, C, H, W]: images zero-padded at bottom/right to the
                 largest H and W in the batch
    img_metas    list of B dicts (``filename``, ``ori_shape``, ``img_shape``, ``pad_shape``, ...)
    gt_bboxes    list of B float32 tensors [N_i, 4] (xyxy, absolute pixels)
    gt_labels    list of B int64 tensors [N_i]
    gt_masks     list of B BitmapMasks / PolygonMasks; uint8 ``[N_i, H_i, W_i]`` tensors (the
                 device-augmentation loaders) become one uint8 tensor ``[sum N_i, max H, max W]``
                 zero-padded bottom/right (split again per sample by ``len(gt_labels[i])``)
    gt_semantic_seg  uint8 tensor [B, 1, H, W] padded with 255 (if present)

Any other key becomes a list of B values. Test-time samples from ``MultiScaleFlipAug`` hold a
list per key (one entry per augmentation); they are collated per augmentation:
``img`` -> list over augmentations of ``[B, C, H, W]`` tensors, ``img_metas`` -> list over
augmentations of lists of B dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["collate", "pad_and_stack", "pad_and_concat", "STACKED_KEYS"]

# keys stacked into one padded tensor, with their padding value
STACKED_KEYS = {"img": 0, "gt_semantic_seg": 255}


def pad_and_stack(tensors: Sequence[torch.Tensor], pad_value: float = 0) -> torch.Tensor:
    """Stack ``[C, H_i, W_i]`` tensors into ``[B, C, max H, max W]``, padding bottom/right."""
    if not tensors:
        raise ValueError("pad_and_stack needs at least one tensor")
    if any(t.dim() != 3 for t in tensors):
        raise ValueError(f"expected [C, H, W] tensors, got shapes {[tuple(t.shape) for t in tensors]}")
    max_h = max(t.shape[1] for t in tensors)
    max_w = max(t.shape[2] for t in tensors)
    padded = [F.pad(t, (0, max_w - t.shape[2], 0, max_h - t.shape[1]), value=pad_value) for t in tensors]
    return torch.stack(padded)


def pad_and_concat(tensors: Sequence[torch.Tensor], pad_value: float = 0) -> torch.Tensor:
    """Concatenate ``[N_i, H_i, W_i]`` tensors into ``[sum N_i, max H, max W]``, padding
    bottom/right (one tensor per batch, e.g. all instance masks)."""
    if not tensors or any(t.dim() != 3 for t in tensors):
        raise ValueError(f"expected [N, H, W] tensors, got shapes {[tuple(t.shape) for t in tensors]}")
    max_h = max(t.shape[1] for t in tensors)
    max_w = max(t.shape[2] for t in tensors)
    return torch.cat([F.pad(t, (0, max_w - t.shape[2], 0, max_h - t.shape[1]), value=pad_value) for t in tensors])


def _collate_key(key: str, values: list[Any]) -> Any:
    if key in STACKED_KEYS and all(isinstance(v, torch.Tensor) for v in values):
        return pad_and_stack(values, STACKED_KEYS[key])
    if key == "gt_masks" and all(isinstance(v, torch.Tensor) for v in values):
        return pad_and_concat(values)
    return values


def collate(batch: Sequence[dict[str, Any]], samples_per_gpu: int = 1) -> dict[str, Any]:
    """Collate a list of sample dicts into a batch dict (see the module docstring).

    ``samples_per_gpu`` is accepted for mmdet compatibility; one batch is one GPU's batch.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    if not all(isinstance(sample, dict) for sample in batch):
        raise TypeError(f"collate expects dict samples, got {[type(s).__name__ for s in batch]}")
    keys = list(batch[0])
    for index, sample in enumerate(batch):
        if list(sample) != keys:
            raise KeyError(f"sample {index} of the batch has keys {sorted(sample)}, expected {sorted(keys)}")
    test_time = isinstance(batch[0].get("img_metas"), list)
    out: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in batch]
        if test_time and isinstance(values[0], list):
            num_augs = len(values[0])
            out[key] = [_collate_key(key, [v[aug] for v in values]) for aug in range(num_augs)]
        else:
            out[key] = _collate_key(key, values)
    return out
