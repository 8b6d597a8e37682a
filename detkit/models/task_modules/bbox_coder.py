"""``DeltaXYWHBBoxCoder`` (MMDetection v2): boxes ↔ normalised (dx, dy, dw, dh) deltas."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from detkit.registry import BBOX_CODERS

__all__ = ["DeltaXYWHBBoxCoder", "bbox2delta", "delta2bbox"]


def bbox2delta(proposals: torch.Tensor, gt: torch.Tensor, means: Sequence[float],
               stds: Sequence[float]) -> torch.Tensor:
    """Deltas ``[N, 4]`` that turn ``proposals`` ``[N, 4]`` into ``gt`` ``[N, 4]`` (xyxy)."""
    proposals = proposals.float()
    gt = gt.float()
    px = (proposals[..., 0] + proposals[..., 2]) * 0.5
    py = (proposals[..., 1] + proposals[..., 3]) * 0.5
    pw = proposals[..., 2] - proposals[..., 0]
    ph = proposals[..., 3] - proposals[..., 1]
    gx = (gt[..., 0] + gt[..., 2]) * 0.5
    gy = (gt[..., 1] + gt[..., 3]) * 0.5
    gw = gt[..., 2] - gt[..., 0]
    gh = gt[..., 3] - gt[..., 1]
    deltas = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw),
                          torch.log(gh / ph)], dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def delta2bbox(rois: torch.Tensor, deltas: torch.Tensor, means: Sequence[float],
               stds: Sequence[float], max_shape: Sequence[int] | None = None,
               wh_ratio_clip: float = 16 / 1000, clip_border: bool = True,
               add_ctr_clamp: bool = False, ctr_clamp: float = 32) -> torch.Tensor:
    """Apply ``deltas`` ``[N, 4k]`` to ``rois`` ``[N, 4]`` → boxes ``[N, 4k]`` (class-major).

    ``dw``/``dh`` are clamped to ``±|log(wh_ratio_clip)|``; with ``clip_border`` and
    ``max_shape=(H, W[, C])`` x is clamped to ``[0, W]`` and y to ``[0, H]``.
    """
    num_bboxes, num_classes = deltas.size(0), deltas.size(1) // 4
    if num_bboxes == 0:
        return deltas
    deltas = deltas.reshape(-1, 4)
    denorm = deltas * deltas.new_tensor(stds).view(1, -1) + deltas.new_tensor(means).view(1, -1)
    dxy, dwh = denorm[:, :2], denorm[:, 2:]
    rois_ = rois.repeat(1, num_classes).reshape(-1, 4)
    pxy = (rois_[:, :2] + rois_[:, 2:]) * 0.5
    pwh = rois_[:, 2:] - rois_[:, :2]
    dxy_wh = pwh * dxy
    max_ratio = abs(math.log(wh_ratio_clip))
    if add_ctr_clamp:
        dxy_wh = torch.clamp(dxy_wh, max=ctr_clamp, min=-ctr_clamp)
        dwh = torch.clamp(dwh, max=max_ratio)
    else:
        dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    bboxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if clip_border and max_shape is not None:
        bboxes[..., 0::2].clamp_(min=0, max=max_shape[1])
        bboxes[..., 1::2].clamp_(min=0, max=max_shape[0])
    return bboxes.reshape(num_bboxes, -1)


@BBOX_CODERS.register_module()
class DeltaXYWHBBoxCoder:
    """Encode gt boxes against proposals as ``((dx, dy, dw, dh) - means) / stds``.

    Args:
        target_means, target_stds: per-component normalisation.
        clip_border: clip decoded boxes to ``max_shape``.
        add_ctr_clamp, ctr_clamp: clamp the centre shift to ``±ctr_clamp`` px.
    """

    def __init__(self, target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), clip_border: bool = True,
                 add_ctr_clamp: bool = False, ctr_clamp: float = 32) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(f"target_means {target_means} and target_stds {target_stds} "
                             "must have 4 values")
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas ``[N, 4]`` from ``bboxes`` ``[N, 4]`` to ``gt_bboxes`` ``[N, 4]``."""
        if bboxes.size(0) != gt_bboxes.size(0):
            raise ValueError(f"encode needs as many boxes as gts, got {bboxes.size(0)} and "
                             f"{gt_bboxes.size(0)}")
        return bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(self, bboxes: torch.Tensor, pred_bboxes: torch.Tensor,
               max_shape: Sequence[int] | None = None,
               wh_ratio_clip: float = 16 / 1000) -> torch.Tensor:
        """Boxes ``[N, 4k]`` from ``bboxes`` ``[N, 4]`` and deltas ``[N, 4k]``."""
        if pred_bboxes.size(0) != bboxes.size(0):
            raise ValueError(f"decode needs one delta row per box, got {pred_bboxes.size(0)} "
                             f"rows for {bboxes.size(0)} boxes")
        return delta2bbox(bboxes, pred_bboxes, self.means, self.stds, max_shape, wh_ratio_clip,
                          self.clip_border, self.add_ctr_clamp, self.ctr_clamp)
