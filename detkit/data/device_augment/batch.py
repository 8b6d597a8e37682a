"""``DeviceAugment``: the seed's train pipeline after loading (AutoAugment -> Resize ->
RandomFlip -> Normalize -> Pad) on a collated batch that is already on the training device.

Input batch (from loaders whose pipeline ends in :class:`PrepareDeviceBatch`, collated by
:func:`detkit.data.collate`): ``img`` uint8 ``[B, 3, H, W]`` BGR zero-padded bottom/right,
``gt_bboxes``/``gt_labels`` lists of ``[N_i, 4]``/``[N_i]``, ``gt_masks`` one uint8 tensor
``[sum N_i, H, W]`` at the padded batch size (split per sample by the label counts), and
``img_metas`` carrying each sample's draws. Output: the batch the model's ``forward_train``
takes, as the per-sample pipeline would have made it: ``img`` float32 normalised and padded to
the size divisor, ``img_metas`` with ``img_shape``, ``pad_shape``, ``scale_factor``, ``flip``,
``flip_direction``, ``img_norm_cfg``, per-sample ``gt_bboxes``/``gt_labels`` and ``gt_masks``
as ``[N_i, pad_h, pad_w]`` uint8 tensors (each sample's own ``pad_shape``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from detkit.data.device_augment.loader_tail import DRAW_KEY
from detkit.data.loaders.collate import pad_and_concat
from detkit.data.transforms.batched import BatchedInstances, PolicyStep
from detkit.data.transforms.batched_train import TrainDraw, batched_train_transforms
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize

__all__ = ["DeviceAugment"]


class DeviceAugment:
    """Callable ``batch -> batch`` (see the module docstring); runs under ``torch.no_grad``.

    Args:
        aug: the pipeline's AutoAugment or None; resize, normalize, pad: its transforms (the
            same objects whose draws :class:`PrepareDeviceBatch` made).
    """

    def __init__(
        self, aug: AutoAugment | None, resize: Resize, normalize: Normalize, pad: Pad
    ) -> None:
        self.aug, self.resize, self.normalize, self.pad = aug, resize, normalize, pad

    def _draw(self, meta: Mapping[str, Any]) -> TrainDraw:
        if DRAW_KEY not in meta:
            raise KeyError(
                f"img_metas has no {DRAW_KEY!r} draws: the loader pipeline must end in "
                "PrepareDeviceBatch (see detkit.data.split_device_augment)"
            )
        draw = meta[DRAW_KEY]
        steps = [
            PolicyStep(self.aug.transforms[p][s], value)  # type: ignore[union-attr]
            for p, s, value in draw["steps"]
        ]
        return TrainDraw(steps, tuple(draw["scale"]), draw["flip"])

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        images = batch["img"]
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(
                f"DeviceAugment needs a uint8 [B, 3, H, W] image batch, got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        metas = list(batch["img_metas"])
        labels = list(batch["gt_labels"])
        masks = None
        if (
            "gt_masks" in batch
        ):  # per image [N_i, H_i, W_i] -> one padded [sum N_i, H, W] on the device
            counts = [len(lab) for lab in labels]
            masks = list(torch.split(pad_and_concat(list(batch["gt_masks"])), counts))
        instances = BatchedInstances(list(batch["gt_bboxes"]), labels, masks)
        draws = [self._draw(meta) for meta in metas]
        hw = [(int(meta["img_shape"][0]), int(meta["img_shape"][1])) for meta in metas]
        out = batched_train_transforms(
            images, hw, instances, draws, self.resize, self.normalize, self.pad
        )
        new_metas = []
        for meta, augmented in zip(metas, out.img_metas):
            kept = {k: v for k, v in meta.items() if k not in augmented and k != DRAW_KEY}
            new_metas.append({**kept, **augmented})
        result: dict[str, Any] = {
            "img": out.images,
            "img_metas": new_metas,
            "gt_bboxes": out.instances.boxes,
            "gt_labels": out.instances.labels,
        }
        if masks is not None:
            result["gt_masks"] = out.instances.masks
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}(aug={self.aug is not None}, resize={self.resize!r})"
