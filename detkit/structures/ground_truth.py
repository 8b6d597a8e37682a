"""``GroundTruth``: the training targets of a batch, as the models read them.

The pipeline's ``gt_bboxes`` / ``gt_labels`` / ``gt_masks`` / ``gt_bboxes_ignore`` lists (the
MMDetection keys of ``forward_train``) become one ``Instances`` per image at the detector's
boundary, so the heads read ``inst.bboxes``, ``inst.labels``, ``inst.masks`` together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from detkit.structures.instances import Instances

__all__ = ["GroundTruth"]


@dataclass(frozen=True)
class GroundTruth:
    """Training targets of a batch: per image an ``Instances`` with ``bboxes`` (float32
    ``[N_i, 4]`` xyxy, network-input pixels), ``labels`` (int64 ``[N_i]``) and, for mask
    heads, ``masks`` (``BitmapMasks``/``PolygonMasks`` or a ``[N_i, H, W]`` tensor); and the
    boxes to ignore (``[M_i, 4]`` or None) per image."""

    instances: list[Instances]
    ignored: list[torch.Tensor | None]

    @classmethod
    def from_mmdet(
        cls,
        img_metas: Sequence[Mapping[str, Any]],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None,
        gt_masks: Sequence[Any] | None,
    ) -> GroundTruth:
        """From MMDetection's per-image lists (the ``forward_train`` arguments)."""
        instances = []
        for i, meta in enumerate(img_metas):
            fields: dict[str, Any] = {"bboxes": gt_bboxes[i], "labels": gt_labels[i]}
            if gt_masks is not None:
                fields["masks"] = gt_masks[i]
            instances.append(Instances(tuple(meta["img_shape"][:2]), **fields))
        ignored: list[torch.Tensor | None] = (
            [None] * len(instances) if gt_bboxes_ignore is None else list(gt_bboxes_ignore)
        )
        return cls(instances, ignored)

    def bboxes(self) -> list[torch.Tensor]:
        return [inst.bboxes for inst in self.instances]

    def labels(self) -> list[torch.Tensor]:
        return [inst.labels for inst in self.instances]

    def masks(self) -> list[Any] | None:
        """Per-image gt masks, or None when the targets have none."""
        if not self.instances or not self.instances[0].has("masks"):
            return None
        return [inst.masks for inst in self.instances]
