"""``DeltaXYWHBBoxCoder`` (MMDetection v2): boxes ↔ normalised (dx, dy, dw, dh) deltas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch

from detkit.registry import BBOX_CODERS

__all__ = ["DeltaXYWHBBoxCoder", "bbox2delta", "delta2bbox", "batched_delta2bbox"]


def bbox2delta(
    proposals: torch.Tensor, gt: torch.Tensor, means: Sequence[float], stds: Sequence[float]
) -> torch.Tensor:
    """Deltas ``[..., 4]`` that turn ``proposals`` ``[..., 4]`` into ``gt`` ``[..., 4]`` (xyxy)."""
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
    deltas = torch.stack(
        [(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], dim=-1
    )
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def delta2bbox(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float],
    stds: Sequence[float],
    max_shape: Sequence[int] | torch.Tensor | None = None,
    wh_ratio_clip: float = 16 / 1000,
    clip_border: bool = True,
    add_ctr_clamp: bool = False,
    ctr_clamp: float = 32,
) -> torch.Tensor:
    """Apply ``deltas`` ``[N, 4k]`` to ``rois`` ``[N, 4]`` → boxes ``[N, 4k]`` (class-major).

    ``dw``/``dh`` are clamped to ``±|log(wh_ratio_clip)|``; with ``clip_border`` and
    ``max_shape`` x is clamped to ``[0, W]`` and y to ``[0, H]``: ``max_shape`` is one
    ``(H, W[, C])``, or a float tensor ``[2]`` or ``[N, 2]`` (``(H, W)`` of each row's image,
    as traced inference gives it). Tensor-only: zero rows give ``[0, 4k]``.
    """
    num_bboxes, num_cols = deltas.size(0), deltas.size(1)
    num_classes = num_cols // 4
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
    bboxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1).reshape(num_bboxes, num_cols)
    if not clip_border or max_shape is None:
        return bboxes
    if isinstance(max_shape, torch.Tensor):
        # (H, W) -> (W, H, W, H, ...) per row (or for all rows)
        max_xy = max_shape[..., :2].flip(-1).to(bboxes.dtype)
        max_xy = max_xy.repeat(*([1] * (max_xy.dim() - 1)), num_cols // 2)
        return torch.minimum(bboxes.clamp(min=0), max_xy)
    bboxes[..., 0::2].clamp_(min=0, max=max_shape[1])
    bboxes[..., 1::2].clamp_(min=0, max=max_shape[0])
    return bboxes


def _hw_tensor(
    max_shape: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    """``(H, W)`` as ``[2]``, or one per image as ``[B, 2]``, in ``like``'s dtype and device."""
    if isinstance(max_shape, torch.Tensor):
        shapes = max_shape
    elif isinstance(max_shape[0], Sequence) or isinstance(max_shape[0], torch.Tensor):
        per_image = cast(Sequence[Sequence[int]], max_shape)
        shapes = torch.tensor([[float(v) for v in list(s)[:2]] for s in per_image])
    else:
        one = cast(Sequence[int], max_shape)
        shapes = torch.tensor([float(v) for v in list(one)[:2]])
    return shapes[..., :2].to(device=like.device, dtype=like.dtype)


def batched_delta2bbox(
    rois: torch.Tensor,
    deltas: torch.Tensor,
    means: Sequence[float],
    stds: Sequence[float],
    max_shape: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | None = None,
    wh_ratio_clip: float = 16 / 1000,
    clip_border: bool = True,
    add_ctr_clamp: bool = False,
    ctr_clamp: float = 32,
) -> torch.Tensor:
    """:func:`delta2bbox` per image: ``rois`` ``[B, N, 4]``, ``deltas`` ``[B, N, 4k]`` →
    ``[B, N, 4k]`` (mmdet's batched decode). ``max_shape`` is one ``(H, W[, C])`` or one per
    image; with ``clip_border`` x is clamped to ``[0, W_b]`` and y to ``[0, H_b]``."""
    batch, num = deltas.shape[:2]
    if batch * num == 0:
        return deltas
    boxes = delta2bbox(
        rois.reshape(-1, 4),
        deltas.reshape(batch * num, -1),
        means,
        stds,
        None,
        wh_ratio_clip,
        clip_border,
        add_ctr_clamp,
        ctr_clamp,
    )
    boxes = boxes.reshape(deltas.shape)
    if not clip_border or max_shape is None:
        return boxes
    shapes = _hw_tensor(max_shape, boxes)
    if shapes.dim() == 2 and shapes.size(0) != batch:
        raise ValueError(f"batched decode got {shapes.size(0)} max_shapes for {batch} images")
    # (H, W) -> (W, H, W, H, ...) per image, broadcast over the N boxes
    max_xy = shapes.flip(-1).repeat(*([1] * (shapes.dim() - 1)), deltas.size(-1) // 2).unsqueeze(-2)
    return torch.minimum(boxes.clamp(min=0), max_xy)


@BBOX_CODERS.register_module()
class DeltaXYWHBBoxCoder:
    """Encode gt boxes against proposals as ``((dx, dy, dw, dh) - means) / stds``.

    Args:
        target_means, target_stds: per-component normalisation.
        clip_border: clip decoded boxes to ``max_shape``.
        add_ctr_clamp, ctr_clamp: clamp the centre shift to ``±ctr_clamp`` px.
    """

    def __init__(
        self,
        target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        clip_border: bool = True,
        add_ctr_clamp: bool = False,
        ctr_clamp: float = 32,
    ) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError(
                f"target_means {target_means} and target_stds {target_stds} must have 4 values"
            )
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.clip_border = clip_border
        self.add_ctr_clamp = add_ctr_clamp
        self.ctr_clamp = ctr_clamp

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas ``[..., N, 4]`` from ``bboxes`` to ``gt_bboxes`` (both ``[..., N, 4]``, e.g.
        ``[N, 4]`` or batched ``[B, N, 4]``)."""
        if bboxes.size(0) != gt_bboxes.size(0):
            raise ValueError(
                f"encode needs as many boxes as gts, got {bboxes.size(0)} and {gt_bboxes.size(0)}"
            )
        if bboxes.shape != gt_bboxes.shape or bboxes.size(-1) != 4:
            raise ValueError(
                f"encode needs boxes and gts of the same shape [..., 4], got "
                f"{tuple(bboxes.shape)} and {tuple(gt_bboxes.shape)}"
            )
        return bbox2delta(bboxes, gt_bboxes, self.means, self.stds)

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """Boxes from ``bboxes`` and deltas ``pred_bboxes``.

        - ``bboxes`` ``[N, 4]``, deltas ``[N, 4k]`` → ``[N, 4k]``; ``max_shape`` ``(H, W[, C])``
          or a float tensor ``[N, 2]`` (each row's image).
        - batched: ``bboxes`` ``[B, N, 4]``, deltas ``[B, N, 4k]`` → ``[B, N, 4k]``;
          ``max_shape`` one ``(H, W[, C])`` for all images or one per image (``B`` of them,
          a sequence or a ``[B, 2+]`` tensor).
        """
        rows, boxes = pred_bboxes.size(0), bboxes.size(0)
        torch._check_with(
            ValueError,
            rows == boxes,
            lambda: f"decode needs one delta row per box, got {rows} rows for {boxes} boxes",
        )
        if pred_bboxes.dim() == 2:
            return delta2bbox(
                bboxes,
                pred_bboxes,
                self.means,
                self.stds,
                # one (H, W[, C]) for unbatched deltas
                cast("Sequence[int] | torch.Tensor | None", max_shape),
                wh_ratio_clip,
                self.clip_border,
                self.add_ctr_clamp,
                self.ctr_clamp,
            )
        if pred_bboxes.dim() != 3 or bboxes.dim() != 3 or pred_bboxes.size(1) != bboxes.size(1):
            raise ValueError(
                f"batched decode needs bboxes [B, N, 4] and deltas [B, N, 4k], got "
                f"{tuple(bboxes.shape)} and {tuple(pred_bboxes.shape)}"
            )
        return batched_delta2bbox(
            bboxes,
            pred_bboxes,
            self.means,
            self.stds,
            max_shape,
            wh_ratio_clip,
            self.clip_border,
            self.add_ctr_clamp,
            self.ctr_clamp,
        )
