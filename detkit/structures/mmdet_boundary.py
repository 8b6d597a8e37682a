"""MMDetection v2's per-image lists ↔ detkit's typed structures, at the detector's boundary.

``forward_train`` takes ``gt_bboxes`` / ``gt_labels`` / ``gt_masks`` / ``gt_bboxes_ignore`` /
``proposals`` lists and ``img_metas`` dicts (as the pipeline collates them); inside the model
they are ``list[Instances]`` ground truth (``boxes``, ``labels``, ``masks``), ignored boxes
(``boxes``) and proposals as one flat ``Instances`` over the batch (``boxes``, ``scores``,
``image_index``). The RPN's v2 methods give proposals back as ``[N, 5]`` tensors
(``x1, y1, x2, y2, score``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from detkit.structures.image_meta import ImageMeta
from detkit.structures.instances import Instances

__all__ = [
    "gt_instances",
    "ignored_instances",
    "proposals_from_mmdet",
    "proposals_to_mmdet",
]


def _count(name: str, values: Sequence[Any], metas: Sequence[ImageMeta]) -> None:
    if len(values) != len(metas):
        raise ValueError(f"{name} has {len(values)} entries for a batch of {len(metas)} images")


def gt_instances(
    metas: Sequence[ImageMeta],
    gt_bboxes: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor],
    gt_masks: Sequence[Any] | None = None,
) -> list[Instances]:
    """Per image an ``Instances`` on ``img_shape`` with ``boxes`` (float32 ``[N_i, 4]`` xyxy,
    network-input pixels), ``labels`` (int64 ``[N_i]``) and, when given, ``masks``
    (``BitmapMasks``/``PolygonMasks`` or a ``[N_i, H, W]`` tensor at pad size)."""
    _count("gt_bboxes", gt_bboxes, metas)
    _count("gt_labels", gt_labels, metas)
    if gt_masks is not None:
        _count("gt_masks", gt_masks, metas)
    out = []
    for i, meta in enumerate(metas):
        fields: dict[str, Any] = {"boxes": gt_bboxes[i], "labels": gt_labels[i]}
        if gt_masks is not None:
            fields["masks"] = gt_masks[i]
        out.append(Instances(meta.img_shape, **fields))
    return out


def ignored_instances(
    metas: Sequence[ImageMeta], gt_bboxes_ignore: Sequence[torch.Tensor | None] | None
) -> list[Instances] | None:
    """Per image the boxes to ignore (``boxes`` ``[M_i, 4]``; none: ``[0, 4]``), or None."""
    if gt_bboxes_ignore is None:
        return None
    _count("gt_bboxes_ignore", gt_bboxes_ignore, metas)
    return [
        Instances(meta.img_shape, boxes=boxes if boxes is not None else torch.zeros(0, 4))
        for meta, boxes in zip(metas, gt_bboxes_ignore)
    ]


def proposals_from_mmdet(proposals: Sequence[torch.Tensor]) -> Instances:
    """Per-image proposals ``[N_i, 4]`` or ``[N_i, 5]`` (score last) as one flat
    ``Instances`` (``boxes``, ``image_index`` and, when every image has them, ``scores``)."""
    with_scores = all(p.dim() == 2 and p.size(1) >= 5 for p in proposals)
    per_image = []
    for i, p in enumerate(proposals):
        if p.dim() != 2 or p.size(1) not in (4, 5):
            raise ValueError(f"proposals[{i}] must be [N, 4] or [N, 5], got {tuple(p.shape)}")
        fields = {"boxes": p[:, :4]}
        if with_scores:
            fields["scores"] = p[:, 4]
        per_image.append(Instances(None, **fields))
    return Instances.batch(per_image)


def proposals_to_mmdet(proposals: Instances, num_images: int) -> list[torch.Tensor]:
    """Per image ``[N_i, 5]`` ``(x1, y1, x2, y2, score)`` of flat proposals."""
    out = []
    for i in range(num_images):
        rows = proposals.for_image(i)
        out.append(torch.cat([rows.boxes, rows.scores[:, None]], dim=1))
    return out
