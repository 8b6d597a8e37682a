"""``collate(batch, samples_per_gpu)``: mmcv 1.x's collate, which understands
:class:`~detkit.structures.data_container.DataContainer` fields.

For a list of samples (dicts from ``Collect``), key by key:

- ``DataContainer(cpu_only=True)`` (``img_metas``, ``gt_masks``) → a container whose ``.data``
  is a list per GPU chunk (``samples_per_gpu`` samples each) of the samples' data;
- ``DataContainer(stack=True)`` (``img``, ``gt_semantic_seg``) → per chunk one tensor
  ``[n, C, H, W]``: the samples zero-padded (``padding_value``) at the end of their last
  ``pad_dims`` dims to the largest size in the chunk, then stacked;
- other containers (``gt_bboxes``, ``gt_labels``, ``proposals``) → per chunk a list;
- lists (the per-augmentation lists of ``MultiScaleFlipAug``) → collated position by
  position, dicts key by key, anything else with torch's ``default_collate``.

So a training batch of B images with ``samples_per_gpu=B`` has ``img.data[0]`` ``[B, 3, H, W]``
and ``img_metas.data[0]`` a list of B dicts; a test batch has ``img`` a list over
augmentations of ``[B, 3, H, W]`` tensors and ``img_metas`` a list over augmentations of
containers. One detkit extension: plain tensors of different sizes (``ImageToTensor`` images of
a multi-image test batch) are zero-padded at the end like a stacked container, where mmcv's
``default_collate`` raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data.dataloader import default_collate

from detkit.structures.data_container import DataContainer

__all__ = ["collate", "pad_and_stack", "pad_and_concat"]


def pad_and_stack(
    tensors: Sequence[torch.Tensor], pad_value: float = 0, pad_dims: int = 2
) -> torch.Tensor:
    """Stack tensors of equal leading dims into ``[n, ...]``, padding the last ``pad_dims``
    dims at their end (bottom/right) with ``pad_value`` to the largest size."""
    if not tensors:
        raise ValueError("pad_and_stack needs at least one tensor")
    first = tensors[0]
    if first.dim() <= pad_dims:
        raise ValueError(
            f"pad_and_stack: tensors need more than {pad_dims} dims, got shape {tuple(first.shape)}"
        )
    lead = first.shape[: first.dim() - pad_dims]
    if any(t.dim() != first.dim() or t.shape[: first.dim() - pad_dims] != lead for t in tensors):
        raise ValueError(
            f"pad_and_stack: tensors differ outside the padded dims: "
            f"{[tuple(t.shape) for t in tensors]}"
        )
    max_size = [max(t.size(-d) for t in tensors) for d in range(1, pad_dims + 1)]
    padded = []
    for t in tensors:
        pad = [0] * (2 * pad_dims)
        for d in range(1, pad_dims + 1):
            pad[2 * d - 1] = max_size[d - 1] - t.size(-d)
        padded.append(F.pad(t, pad, value=pad_value))
    return torch.stack(padded)


def pad_and_concat(tensors: Sequence[torch.Tensor], pad_value: float = 0) -> torch.Tensor:
    """Concatenate ``[N_i, H_i, W_i]`` tensors into ``[sum N_i, max H, max W]``, padding
    bottom/right (one tensor per batch, e.g. all instance masks)."""
    if not tensors or any(t.dim() != 3 for t in tensors):
        raise ValueError(
            f"expected [N, H, W] tensors, got shapes {[tuple(t.shape) for t in tensors]}"
        )
    max_h = max(t.shape[1] for t in tensors)
    max_w = max(t.shape[2] for t in tensors)
    return torch.cat(
        [F.pad(t, (0, max_w - t.shape[2], 0, max_h - t.shape[1]), value=pad_value) for t in tensors]
    )


def _collate_containers(batch: Sequence[DataContainer], samples_per_gpu: int) -> DataContainer:
    first = batch[0]
    chunks = [batch[i : i + samples_per_gpu] for i in range(0, len(batch), samples_per_gpu)]
    if first.cpu_only:
        return DataContainer(
            [[s.data for s in chunk] for chunk in chunks],
            first.stack,
            first.padding_value,
            cpu_only=True,
        )
    if not first.stack:
        return DataContainer(
            [[s.data for s in chunk] for chunk in chunks], first.stack, first.padding_value
        )
    stacked = []
    for chunk in chunks:
        if not all(isinstance(s.data, torch.Tensor) for s in chunk):
            raise TypeError(
                f"collate: a stacked DataContainer must hold tensors, got "
                f"{[type(s.data).__name__ for s in chunk]}"
            )
        if chunk[0].pad_dims is None:
            stacked.append(default_collate([s.data for s in chunk]))
        else:
            # each sample pads with its own padding_value, as mmcv
            max_size = [max(s.size(-d) for s in chunk) for d in range(1, chunk[0].pad_dims + 1)]
            padded = []
            for s in chunk:
                pad = [0] * (2 * chunk[0].pad_dims)
                for d in range(1, chunk[0].pad_dims + 1):
                    pad[2 * d - 1] = max_size[d - 1] - s.size(-d)
                padded.append(F.pad(s.data, pad, value=s.padding_value))
            try:
                stacked.append(torch.stack(padded))
            except RuntimeError as exc:
                raise ValueError(
                    f"collate: stacked samples differ outside their last "
                    f"{chunk[0].pad_dims} dims: {[tuple(s.data.shape) for s in chunk]}"
                ) from exc
    return DataContainer(stacked, first.stack, first.padding_value)


def collate(batch: Sequence[Any], samples_per_gpu: int = 1) -> Any:
    """Collate a list of samples (see the module docstring), mmcv 1.x semantics.

    Raises:
        TypeError: ``batch`` is not a sequence; ValueError: it is empty or
            ``samples_per_gpu < 1``.
    """
    if not isinstance(batch, Sequence) or isinstance(batch, str):
        raise TypeError(f"collate expects a list of samples, got {type(batch).__name__}")
    if not batch:
        raise ValueError("cannot collate an empty batch")
    if samples_per_gpu < 1:
        raise ValueError(f"collate: samples_per_gpu must be >= 1, got {samples_per_gpu}")
    first = batch[0]
    if isinstance(first, DataContainer):
        return _collate_containers(batch, samples_per_gpu)
    if isinstance(first, Sequence) and not isinstance(first, str):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError(
                f"collate: samples hold lists of different lengths {[len(s) for s in batch]}"
            )
        return [collate(list(samples), samples_per_gpu) for samples in zip(*batch)]
    if isinstance(first, Mapping):
        for index, sample in enumerate(batch):
            if set(sample) != set(first):
                raise KeyError(
                    f"sample {index} of the batch has keys {sorted(sample)}, "
                    f"expected {sorted(first)}"
                )
        return {key: collate([d[key] for d in batch], samples_per_gpu) for key in first}
    if (
        isinstance(first, torch.Tensor)
        and first.dim() >= 3
        and any(t.shape != first.shape for t in batch)
    ):
        return pad_and_stack(batch)
    return default_collate(list(batch))
