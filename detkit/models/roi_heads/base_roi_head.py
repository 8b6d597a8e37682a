"""What the standard and cascade RoI heads share: sampling, and turning detections plus
mask probabilities into ``DetectionResult`` objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from detkit.models.task_modules import SamplingResult
from detkit.structures.results import DetectionResult

__all__ = ["RoIHeadBase", "canvas_shape", "scale_factor_tensor"]


def scale_factor_tensor(scale_factor: Any, like: torch.Tensor) -> torch.Tensor:
    """``scale_factor`` (float, list, array or tensor) as a float32 ``[4]`` (w, h, w, h)."""
    scale = torch.as_tensor(np.asarray(scale_factor, dtype=np.float32) if not isinstance(
        scale_factor, torch.Tensor) else scale_factor, dtype=torch.float32, device=like.device)
    return scale.repeat(4) if scale.numel() == 1 else scale.reshape(4)


def canvas_shape(meta: Mapping[str, Any], rescale: bool) -> tuple[int, int]:
    """Output canvas (H, W): ``ori_shape`` with ``rescale``, else ``round(ori * scale)``."""
    ori_h, ori_w = int(meta["ori_shape"][0]), int(meta["ori_shape"][1])
    if rescale:
        return ori_h, ori_w
    scale = np.asarray(meta["scale_factor"], dtype=np.float32).reshape(-1)
    w_scale, h_scale = (scale[0], scale[0]) if scale.size == 1 else (scale[0], scale[1])
    return int(np.round(ori_h * float(h_scale))), int(np.round(ori_w * float(w_scale)))


class RoIHeadBase(nn.Module):
    """Shared helpers; subclasses define the heads and the forward passes."""

    train_cfg: Any
    test_cfg: Any

    @staticmethod
    def sample_proposals(assigner: Any, sampler: Any, proposal_list: Sequence[torch.Tensor],
                         gt_bboxes: Sequence[torch.Tensor], gt_labels: Sequence[torch.Tensor],
                         gt_bboxes_ignore: Sequence[torch.Tensor | None] | None
                         ) -> list[SamplingResult]:
        """Assign and sample the proposals of every image (gts prepended by the sampler)."""
        ignores = gt_bboxes_ignore if gt_bboxes_ignore is not None else [None] * len(gt_bboxes)
        results = []
        for proposals, boxes, labels, ignore in zip(proposal_list, gt_bboxes, gt_labels, ignores):
            assign_result = assigner.assign(proposals, boxes, ignore, labels)
            results.append(sampler.sample(assign_result, proposals, boxes, labels))
        return results

    @staticmethod
    def mask_rois_boxes(det_bboxes: Sequence[torch.Tensor], img_metas: Sequence[Mapping],
                        rescale: bool) -> list[torch.Tensor]:
        """Detections mapped back to network-input pixels (``× scale_factor`` when the boxes
        were rescaled)."""
        if not rescale:
            return [d[:, :4] for d in det_bboxes]
        return [d[:, :4] * scale_factor_tensor(m["scale_factor"], d)
                for d, m in zip(det_bboxes, img_metas)]

    def build_results(self, det_bboxes: Sequence[torch.Tensor], det_labels: Sequence[torch.Tensor],
                      mask_probs: Sequence[torch.Tensor] | None, mask_boxes: Sequence[torch.Tensor],
                      img_metas: Sequence[Mapping[str, Any]], rescale: bool,
                      mask_head: Any = None) -> list[DetectionResult]:
        """One ``DetectionResult`` per image; masks pasted by ``mask_head.get_seg_masks``
        when ``mask_probs`` (sigmoid-ed ``[N_i, C, m, m]`` per image) are given."""
        results = []
        for i, meta in enumerate(img_metas):
            dets, labels = det_bboxes[i], det_labels[i]
            masks = None
            if mask_probs is not None:
                if dets.shape[0] == 0:
                    masks = torch.zeros((0, *canvas_shape(meta, rescale)), dtype=torch.bool,
                                        device=dets.device)
                else:
                    masks = mask_head.get_seg_masks(mask_probs[i], mask_boxes[i], labels,
                                                    self.test_cfg, meta["ori_shape"],
                                                    meta["scale_factor"], rescale)
            results.append(DetectionResult(dets[:, :4], dets[:, 4], labels, masks))
        return results
