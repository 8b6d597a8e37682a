"""``scatter``: the one place where collated batches cross from the data side to the model.

mmcv's ``MMDataParallel`` scatters ``DataContainer``s before the detector's ``forward``; detkit
runs one device per process, so this takes each container's single GPU chunk
(``container.data[0]``), leaves ``cpu_only`` ones (``img_metas``, ``gt_masks``) on the CPU and
moves every other tensor to the device. The model then sees what it always did: ``img`` a
tensor (or a list over test-time augmentations), ``img_metas`` a list of dicts,
``gt_bboxes`` a list of tensors. Already unwrapped input passes through (tensors moved).
"""

from __future__ import annotations

from typing import Any

import torch

from detkit.structures.data_container import DataContainer

__all__ = ["scatter"]


def _chunk(container: DataContainer) -> Any:
    chunks = container.data
    if not isinstance(chunks, list) or len(chunks) != 1:
        count = len(chunks) if isinstance(chunks, list) else "no"
        raise ValueError(
            f"a collated DataContainer must hold exactly one per-GPU chunk for one device, it "
            f"holds {count} (collate with samples_per_gpu equal to the batch size, or run one "
            "process per GPU with dist=True)"
        )
    return chunks[0]


def scatter(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with DataContainers unwrapped (see the module docstring) and tensors on
    ``device``; dicts, lists and tuples are rebuilt with the same type."""
    if isinstance(obj, DataContainer):
        data = _chunk(obj)
        return data if obj.cpu_only else scatter(data, device)
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return type(obj)((k, scatter(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(scatter(v, device) for v in obj)
    return obj
