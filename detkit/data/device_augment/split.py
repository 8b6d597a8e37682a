"""``split_device_augment``: cut a train dataset's pipeline where augmentation starts, so the
loader stops after loading/decoding and the rest runs on the device batch.

The pipeline must read ``<loading...>, [AutoAugment], Resize, RandomFlip, Normalize,
Pad(size_divisor=...), DefaultFormatBundle, Collect`` (the seed's train pipeline); the loading
part stays in the loader, followed by :class:`PrepareDeviceBatch`, and the returned
:class:`DeviceAugment` runs the rest with the very transform objects of the pipeline.
"""

from __future__ import annotations

import copy
from typing import Any

from detkit.data.device_augment.batch import DeviceAugment
from detkit.data.device_augment.loader_tail import PrepareDeviceBatch
from detkit.data.transforms.compose import Compose
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.formatting import Collect, DefaultFormatBundle
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize

__all__ = ["split_device_augment"]

_TAIL = (Resize, RandomFlip, Normalize, Pad, DefaultFormatBundle, Collect)
_COLLECT_KEYS = {"img", "gt_bboxes", "gt_labels", "gt_masks"}


def _pipeline_holder(dataset: Any) -> tuple[list[Any], Any]:
    """(wrappers from the outside in, the dataset that owns ``pipeline``)."""
    chain, node = [], dataset
    while not hasattr(node, "pipeline"):
        if not hasattr(node, "dataset"):
            raise TypeError(
                f"device_augment: {type(dataset).__name__} has no pipeline (supported: a dataset "
                "with a pipeline, possibly inside RepeatDataset-like wrappers with .dataset)"
            )
        chain.append(node)
        node = node.dataset
    return chain, node


def _split(
    transforms: list[Any], where: str
) -> tuple[list[Any], DeviceAugment, PrepareDeviceBatch]:
    start = next(
        (i for i, t in enumerate(transforms) if isinstance(t, (AutoAugment, Resize))), None
    )
    if start is None:
        raise ValueError(
            f"device_augment: {where} has neither AutoAugment nor Resize: nothing to run on the "
            "device"
        )
    tail = transforms[start:]
    aug = tail.pop(0) if isinstance(tail[0], AutoAugment) else None
    kinds = [type(t) for t in tail]
    if len(tail) != len(_TAIL) or not all(isinstance(t, kind) for t, kind in zip(tail, _TAIL)):
        raise ValueError(
            f"device_augment: {where} after the loading steps reads {[k.__name__ for k in kinds]}; "
            "the device path runs [AutoAugment,] Resize, RandomFlip, Normalize, Pad, "
            "DefaultFormatBundle, Collect"
        )
    resize, flip, normalize, pad, _, collect = tail
    if pad.size_divisor is None or pad.size is not None or pad.pad_val.get("img", 0) != 0:
        raise ValueError(
            f"device_augment: {where} Pad must be Pad(size_divisor=N) with image padding 0, got "
            f"{pad!r}"
        )
    if (
        resize.override
        or resize.img_scale is None
        or resize.interpolation != "bilinear"
        or not resize.bbox_clip_border
    ):
        raise ValueError(
            f"device_augment: {where} Resize needs img_scale, bilinear interpolation, "
            f"bbox_clip_border and no override, got {resize!r}"
        )
    extra = set(collect.keys) - _COLLECT_KEYS
    if extra or not {"img", "gt_bboxes", "gt_labels"} <= set(collect.keys):
        raise ValueError(
            f"device_augment: {where} Collect keys {collect.keys}: the device path carries "
            f"img, gt_bboxes, gt_labels and gt_masks only (unsupported: {sorted(extra)})"
        )
    head = transforms[:start]
    prepare = PrepareDeviceBatch(aug, resize, flip, collect.keys)
    return head, DeviceAugment(aug, resize, normalize, pad), prepare


def split_device_augment(dataset: Any) -> tuple[Any, DeviceAugment]:
    """A shallow copy of ``dataset`` whose pipeline stops after loading (ending in
    :class:`PrepareDeviceBatch`), and the :class:`DeviceAugment` that runs the rest on a
    batch. ``dataset`` itself is not changed.

    Raises:
        TypeError: no pipeline to split (e.g. a ConcatDataset).
        ValueError: the pipeline is not the seed's train pipeline shape (the message names
            what it found).
    """
    chain, holder = _pipeline_holder(dataset)
    where = f"{type(holder).__name__}.pipeline"
    head, device, prepare = _split(list(holder.pipeline.transforms), where)
    new_holder = copy.copy(holder)
    new_holder.pipeline = Compose(head + [prepare])
    node = new_holder
    for wrapper in reversed(chain):
        wrapped = copy.copy(wrapper)
        wrapped.dataset = node
        node = wrapped
    return node, device
