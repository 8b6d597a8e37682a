"""Tensor-only test-time steps of a two-stage detector, written so that ``torch.export``
traces them with symbolic image sizes and data-dependent detection counts: no Python branch
on a tensor's size or value, image size and scale factor as tensors.

Each function mirrors one eager step of MMDetection v2 (the functions named in its docstring)
and gives the same numbers; the eager code keeps its shortcuts (early returns on empty inputs,
candidate pruning before NMS) that a traced graph cannot have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
from torchvision.ops import nms

__all__ = ["batched_nms", "decode_deltas", "multiclass_nms", "extract_rois"]

_CANDIDATES = 16  # per kept detection, before the final NMS


def decode_deltas(
    coder: object, rois: torch.Tensor, deltas: torch.Tensor, img_shape: torch.Tensor
) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode`` of ``deltas`` ``[N, 4k]`` on ``rois`` ``[N, 4]`` with the
    boxes clipped to ``img_shape`` (float ``[2]``: h, w) → ``[N, 4k]`` xyxy input pixels."""
    if getattr(coder, "add_ctr_clamp", False):
        raise ValueError("export: DeltaXYWHBBoxCoder(add_ctr_clamp=True) is not supported")
    means = deltas.new_tensor(coder.means).repeat(deltas.size(1) // 4)
    stds = deltas.new_tensor(coder.stds).repeat(deltas.size(1) // 4)
    denorm = (deltas * stds + means).reshape(deltas.size(0), -1, 4)
    pxy = ((rois[:, :2] + rois[:, 2:]) * 0.5)[:, None]
    pwh = (rois[:, 2:] - rois[:, :2])[:, None]
    max_ratio = abs(math.log(16 / 1000))
    gxy = pxy + pwh * denorm[..., :2]
    gwh = pwh * denorm[..., 2:].clamp(min=-max_ratio, max=max_ratio).exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if coder.clip_border:
        upper = img_shape.flip(0).repeat(2).to(boxes.dtype)  # (w, h, w, h)
        boxes = torch.minimum(boxes.clamp(min=0), upper)
    return boxes.reshape(deltas.size(0), -1)


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    max_num: int,
) -> torch.Tensor:
    """Group-wise NMS (torchvision's coordinate offsets: one ``nms``, ONNX
    ``NonMaxSuppression``): indices of the kept boxes by decreasing score, at most
    ``max_num`` (``<= 0``: all). Works on zero boxes."""
    # the zero keeps the max defined on an empty input; boxes are clipped to >= 0
    top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = idxs.to(boxes.dtype) * (top + 1)
    keep = nms(boxes + offsets[:, None], scores, iou_threshold)
    return keep[:max_num] if max_num > 0 else keep


def multiclass_nms(
    boxes: torch.Tensor, scores: torch.Tensor, score_thr: float, iou_threshold: float, max_num: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MMDetection's ``multiclass_nms`` on ``boxes`` ``[N, 4]`` or ``[N, 4C]`` and softmax
    ``scores`` ``[N, C+1]`` (last column background) → boxes ``[n, 4]``, scores ``[n]``,
    labels int64 ``[n]`` sorted by score."""
    num_classes = scores.size(1) - 1
    if boxes.size(1) > 4:
        boxes = boxes.reshape(scores.size(0), num_classes, 4)
    else:
        boxes = boxes[:, None].expand(scores.size(0), num_classes, 4)
    fg = scores[:, :-1]
    labels = torch.arange(num_classes, device=scores.device)[None].expand_as(fg)
    boxes, fg, labels = boxes.reshape(-1, 4), fg.reshape(-1), labels.reshape(-1)
    inds = torch.nonzero(fg > score_thr).squeeze(1)
    if max_num > 0:
        # NMS on the best 16·max_num candidates only (score_thr=0 leaves 1000 RoIs × C): the
        # first max_num survivors of greedy NMS depend on the boxes that score above them
        # alone, so this is the full answer whenever those hold max_num survivors (the eager
        # ``top_batched_nms`` starts from 4·max_num and grows ×4 until they do)
        top = fg[inds].topk(torch.sym_min(inds.size(0), _CANDIDATES * max_num)).indices
        inds = inds[top]
    boxes, fg, labels = boxes[inds], fg[inds], labels[inds]
    keep = batched_nms(boxes, fg, labels, iou_threshold, max_num)
    return boxes[keep], fg[keep], labels[keep]


def extract_rois(
    extractor: nn.Module, feats: Sequence[torch.Tensor], rois: torch.Tensor
) -> torch.Tensor:
    """RoI features ``[K, C, s, s]`` of ``rois`` ``[K, 5]`` as ``extractor`` pools them.

    ``SoftRoIExtractor`` is traceable as it is (every RoI from every level);
    ``SingleRoIExtractor`` pools each level's RoIs and scatters them back, with no branch on
    a level being empty. Any other extractor cannot be exported (``TypeError`` naming it)."""
    kind = type(extractor).__name__
    if kind == "SoftRoIExtractor":
        return extractor(feats, rois)
    if kind != "SingleRoIExtractor":
        raise TypeError(
            f"export: RoI extractor {kind} ({type(extractor).__module__}) has no "
            "export path; SingleRoIExtractor and SoftRoIExtractor do"
        )
    feats = feats[: extractor.num_inputs]
    if len(feats) == 1:
        return extractor.roi_layers[0](feats[0], rois)
    levels = extractor.map_roi_levels(rois, len(feats))
    out = feats[0].new_zeros(rois.size(0), extractor.out_channels, *extractor.output_size)
    for i, feat in enumerate(feats):
        inds = torch.nonzero(levels == i).squeeze(1)
        out = out.index_put((inds,), extractor.roi_layers[i](feat, rois[inds]))
    return out
