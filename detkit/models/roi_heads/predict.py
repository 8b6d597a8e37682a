"""``RoIHeadPrediction``: inference of the standard and the cascade RoI head, on one view
(``predict``) or merged over test-time augmentations (``predict_aug``, MMDetection v2's
``aug_test``). Class logits are averaged over the box stages, boxes come from the last stage,
and mask probabilities are averaged over the stages' mask heads (one stage for
``StandardRoIHead``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from detkit.models.roi_heads.aug_merge import aug_geometry, merge_aug_bboxes, merge_aug_masks
from detkit.models.task_modules import multiclass_nms
from detkit.structures.boxes import bbox2roi, bbox_mapping, scale_factor_tensor
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import RoIMasks

__all__ = ["RoIHeadPrediction", "canvas_shape"]


def canvas_shape(meta: Mapping[str, Any], rescale: bool) -> tuple[int, int]:
    """Output canvas (H, W): ``ori_shape`` with ``rescale``, else ``round(ori * scale)``."""
    ori_h, ori_w = int(meta["ori_shape"][0]), int(meta["ori_shape"][1])
    if rescale:
        return ori_h, ori_w
    scale = np.asarray(meta["scale_factor"], dtype=np.float32).reshape(-1)
    w_scale, h_scale = (scale[0], scale[0]) if scale.size == 1 else (scale[0], scale[1])
    return int(np.round(ori_h * float(h_scale))), int(np.round(ori_w * float(w_scale)))


class RoIHeadPrediction(nn.Module):
    """Inference on top of ``RoIHeadBase``'s stage loop and branches."""

    num_stages: int
    with_mask: bool
    shared_mask_pooling: bool
    test_cfg: Any

    def predict(
        self,
        x: FeaturePyramid,
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[Mapping[str, Any]],
        rescale: bool = False,
    ) -> list[DetectionResult]:
        """Detections (and masks) per image from proposals ``[N_i, 5]``; boxes in original
        pixels when ``rescale``.

        Decision: unlike mmdet's ``simple_test``, a single view whose meta says ``flip`` does
        not get its masks un-flipped (that would mirror each mask inside its box);
        un-flipping happens only when merging views in :meth:`predict_aug`.
        """
        last_head = self.bbox_branch(self.num_stages - 1)[1]
        det_bboxes = [p.new_zeros(0, 5) for p in proposal_list]
        det_labels = [p.new_zeros((0,), dtype=torch.long) for p in proposal_list]
        if sum(len(p) for p in proposal_list) > 0:
            stages = self._forward_box(x, proposal_list, img_metas)
            num_per_img = [len(p) for p in proposal_list]
            for i, (rois, score, pred) in enumerate(
                zip(
                    stages.rois.split(num_per_img),
                    stages.cls_score.split(num_per_img),
                    stages.bbox_pred.split(num_per_img),
                )
            ):
                if rois.shape[0] > 0:
                    meta = img_metas[i]
                    det_bboxes[i], det_labels[i] = last_head.get_bboxes(
                        rois,
                        score,
                        pred,
                        meta["img_shape"],
                        meta["scale_factor"],
                        rescale,
                        self.test_cfg,
                    )
        if not self.with_mask:
            return [
                DetectionResult(d[:, :4], d[:, 4], lab) for d, lab in zip(det_bboxes, det_labels)
            ]
        return self._with_masks(x, det_bboxes, det_labels, img_metas, rescale)

    def _stage_mask_probs(
        self, x: FeaturePyramid, rois: torch.Tensor, labels: torch.Tensor
    ) -> list[torch.Tensor]:
        """Each stage's sigmoid mask probabilities ``[K, 1, m, m]`` of ``rois`` ``[K, 5]``'
        classes ``labels`` ``[K]``. With ``shared_mask_pooling`` (the stages' mask extractors
        are one parameter-free config, MMDetection's cascade configs) the RoI features
        ``[K, C, s, s]`` are pooled once for all stages: the same values mmdet pools per stage."""
        if not self.shared_mask_pooling:
            return [
                self._mask_forward(s, x, rois, labels).sigmoid() for s in range(self.num_stages)
            ]
        feats = self.mask_branch(0)[0](x, rois)
        return [
            self.mask_branch(s)[1](feats, labels).float().sigmoid() for s in range(self.num_stages)
        ]

    def _with_masks(
        self,
        x: FeaturePyramid,
        det_bboxes: list[torch.Tensor],
        det_labels: list[torch.Tensor],
        img_metas: Sequence[Mapping[str, Any]],
        rescale: bool,
    ) -> list[DetectionResult]:
        """``DetectionResult``s with the masks of the detections as ``RoIMasks`` on their
        canvases (pasted on request)."""
        mask_head = self.mask_branch(self.num_stages - 1)[1]
        # the detections in network-input pixels (x scale_factor when they were rescaled)
        boxes = [
            d[:, :4] * scale_factor_tensor(m["scale_factor"], d) if rescale else d[:, :4]
            for d, m in zip(det_bboxes, img_metas)
        ]
        probs = [b.new_zeros((0,)) for b in boxes]
        if any(b.shape[0] > 0 for b in boxes):
            stage_probs = self._stage_mask_probs(x, bbox2roi(boxes), torch.cat(det_labels))
            merged = stage_probs[0] if len(stage_probs) == 1 else torch.stack(stage_probs).mean(0)
            probs = list(merged.split([b.shape[0] for b in boxes]))
        results = []
        for dets, labels, prob, box, meta in zip(det_bboxes, det_labels, probs, boxes, img_metas):
            if dets.shape[0] == 0:
                masks = RoIMasks(
                    dets.new_zeros((0, 1, 1, 1)),
                    dets.new_zeros((0, 4)),
                    *canvas_shape(meta, rescale),
                    self.test_cfg["mask_thr_binary"],
                    skip_empty=dets.device.type == "cpu",
                )
            else:
                masks = mask_head.get_roi_masks(
                    prob,
                    box,
                    labels,
                    self.test_cfg,
                    meta["ori_shape"],
                    meta["scale_factor"],
                    rescale,
                )
            results.append(DetectionResult(dets[:, :4], dets[:, 4], labels, masks))
        return results

    def predict_aug(
        self,
        feats: Sequence[FeaturePyramid],
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[Sequence[Mapping[str, Any]]],
        rescale: bool = True,
    ) -> list[DetectionResult]:
        """Merged detections of one image over augmentations (mmdet ``aug_test``): boxes in
        original-image pixels (× ``scale_factor`` of the first aug when not ``rescale``),
        masks on the original canvas."""
        last_head = self.bbox_branch(self.num_stages - 1)[1]
        aug_bboxes, aug_scores = [], []
        for x, meta in zip(feats, img_metas):
            proposals = bbox_mapping(proposal_list[0][:, :4], *aug_geometry(meta[0]))
            if proposals.shape[0] == 0:
                aug_bboxes.append(proposals.new_zeros(0, 4))
                aug_scores.append(proposals.new_zeros(0, last_head.num_classes + 1))
                continue
            stages = self._forward_box(x, [proposals], [meta[0]])
            bboxes, scores = last_head.decode_bboxes(
                stages.rois,
                stages.cls_score,
                stages.bbox_pred,
                meta[0]["img_shape"],
                meta[0]["scale_factor"],
                False,
            )
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        bboxes, scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas)
        if bboxes.shape[0] == 0:
            dets, labels = bboxes.new_zeros(0, 5), bboxes.new_zeros((0,), dtype=torch.long)
        else:
            dets, labels = multiclass_nms(
                bboxes,
                scores,
                self.test_cfg["score_thr"],
                self.test_cfg["nms"],
                self.test_cfg["max_per_img"],
            )
        out_dets = dets.clone()
        if not rescale:
            out_dets[:, :4] *= scale_factor_tensor(img_metas[0][0]["scale_factor"], dets)
        masks = None
        if self.with_mask:
            probs, prob_metas = [], []
            for x, meta in zip(feats, img_metas):
                boxes = bbox_mapping(dets[:, :4], *aug_geometry(meta[0]))
                for prob in self._stage_mask_probs(x, bbox2roi([boxes]), labels):
                    probs.append(prob)
                    prob_metas.append(meta[0])
            merged = merge_aug_masks(probs, prob_metas)
            masks = self.mask_branch(self.num_stages - 1)[1].get_roi_masks(
                merged, dets, labels, self.test_cfg, img_metas[0][0]["ori_shape"], 1.0, False
            )
        return [DetectionResult(out_dets[:, :4], out_dets[:, 4], labels, masks)]
