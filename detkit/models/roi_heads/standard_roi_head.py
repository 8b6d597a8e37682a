"""``StandardRoIHead`` (Mask / Faster R-CNN): one box stage and an optional mask head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from detkit.models.roi_heads.base_roi_head import RoIHeadBase, scale_factor_tensor
from detkit.models.roi_heads.bbox_utils import bbox2roi, multiclass_nms
from detkit.models.roi_heads.test_time_aug import (bbox_mapping, merge_aug_bboxes,
                                                   merge_aug_masks)
from detkit.models.task_modules import SamplingResult
from detkit.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, MODELS, build
from detkit.structures.results import DetectionResult

__all__ = ["StandardRoIHead"]


@MODELS.register_module()
class StandardRoIHead(RoIHeadBase):
    """Box head (+ mask head) on RPN proposals.

    Args:
        bbox_roi_extractor, bbox_head: configs of the box branch.
        mask_roi_extractor, mask_head: configs of the mask branch (the box extractor is
            shared when ``mask_roi_extractor`` is None).
        train_cfg: ``assigner``, ``sampler``, ``mask_size``, ``pos_weight``.
        test_cfg: ``score_thr``, ``nms``, ``max_per_img``, ``mask_thr_binary``.
        pretrained, init_cfg: accepted for config compatibility.

    Training returns ``loss_cls``, ``acc``, ``loss_bbox`` (and ``loss_mask``).
    """

    def __init__(self, bbox_roi_extractor: Mapping[str, Any] | None = None,
                 bbox_head: Mapping[str, Any] | None = None,
                 mask_roi_extractor: Mapping[str, Any] | None = None,
                 mask_head: Mapping[str, Any] | None = None,
                 shared_head: Mapping[str, Any] | None = None,
                 train_cfg: Mapping[str, Any] | None = None,
                 test_cfg: Mapping[str, Any] | None = None,
                 pretrained: str | None = None, init_cfg: Any = None) -> None:
        super().__init__()
        if shared_head is not None:
            raise ValueError("StandardRoIHead: shared_head is not supported by detkit")
        if bbox_head is None:
            raise ValueError("StandardRoIHead needs a bbox_head config")
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.bbox_roi_extractor = build(bbox_roi_extractor, MODELS)
        self.bbox_head = build(bbox_head, MODELS)
        self.with_mask = mask_head is not None
        if self.with_mask:
            self.mask_head = build(mask_head, MODELS)
            self.mask_roi_extractor = (self.bbox_roi_extractor if mask_roi_extractor is None
                                       else build(mask_roi_extractor, MODELS))
        if train_cfg is not None:
            self.bbox_assigner = build(train_cfg["assigner"], BBOX_ASSIGNERS)
            self.bbox_sampler = build(train_cfg["sampler"], BBOX_SAMPLERS)

    def init_weights(self) -> None:
        self.bbox_head.init_weights()
        if self.with_mask:
            self.mask_head.init_weights()

    def _bbox_forward(self, x: Sequence[torch.Tensor], rois: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        cls_score, bbox_pred = self.bbox_head(self.bbox_roi_extractor(x, rois))
        return cls_score.float(), bbox_pred.float()

    def _mask_forward(self, x: Sequence[torch.Tensor], rois: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
        """Mask logits of each RoI's class ``labels[k]``: ``[K, 1, m, m]``."""
        return self.mask_head(self.mask_roi_extractor(x, rois), labels).float()

    def forward_train(self, x: Sequence[torch.Tensor], img_metas: Sequence[Mapping[str, Any]],
                      proposal_list: Sequence[torch.Tensor], gt_bboxes: Sequence[torch.Tensor],
                      gt_labels: Sequence[torch.Tensor],
                      gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
                      gt_masks: Sequence[Any] | None = None) -> dict[str, torch.Tensor]:
        if self.train_cfg is None:
            raise ValueError("StandardRoIHead.forward_train needs train_cfg (model.train_cfg.rcnn)")
        sampling_results = self.sample_proposals(self.bbox_assigner, self.bbox_sampler,
                                                 proposal_list, gt_bboxes, gt_labels,
                                                 gt_bboxes_ignore)
        rois = bbox2roi([res.bboxes for res in sampling_results])
        cls_score, bbox_pred = self._bbox_forward(x, rois)
        targets = self.bbox_head.get_targets(sampling_results, self.train_cfg)
        losses = self.bbox_head.loss(cls_score, bbox_pred, *targets)
        if self.with_mask:
            losses.update(self._mask_loss(x, sampling_results, gt_masks))
        return losses

    def _mask_loss(self, x: Sequence[torch.Tensor], sampling_results: Sequence[SamplingResult],
                   gt_masks: Sequence[Any] | None) -> dict[str, torch.Tensor]:
        if gt_masks is None:
            raise ValueError("a model with a mask head needs gt_masks for training")
        labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        mask_pred = self._mask_forward(x, bbox2roi([res.pos_bboxes for res in sampling_results]),
                                       labels)
        targets = self.mask_head.get_targets(sampling_results, gt_masks, self.train_cfg)
        return self.mask_head.loss(mask_pred, targets, labels)

    def predict(self, x: Sequence[torch.Tensor], proposal_list: Sequence[torch.Tensor],
                img_metas: Sequence[Mapping[str, Any]], rescale: bool = False
                ) -> list[DetectionResult]:
        """Detections (and masks) per image from proposals ``[N_i, 5]``."""
        rois = bbox2roi(proposal_list)
        num_per_img = [len(p) for p in proposal_list]
        det_bboxes, det_labels = [], []
        if rois.shape[0] > 0:
            cls_score, bbox_pred = self._bbox_forward(x, rois)
            parts = zip(rois.split(num_per_img), cls_score.split(num_per_img),
                        bbox_pred.split(num_per_img))
        else:
            parts = zip([rois] * len(img_metas), [None] * len(img_metas), [None] * len(img_metas))
        for (img_rois, score, pred), meta in zip(parts, img_metas):
            if img_rois.shape[0] == 0:
                det_bboxes.append(rois.new_zeros(0, 5))
                det_labels.append(rois.new_zeros((0,), dtype=torch.long))
                continue
            dets, labels = self.bbox_head.get_bboxes(img_rois, score, pred, meta["img_shape"],
                                                     meta["scale_factor"], rescale, self.test_cfg)
            det_bboxes.append(dets)
            det_labels.append(labels)
        return self._with_masks(x, det_bboxes, det_labels, img_metas, rescale)

    def _with_masks(self, x: Sequence[torch.Tensor], det_bboxes: list[torch.Tensor],
                    det_labels: list[torch.Tensor], img_metas: Sequence[Mapping[str, Any]],
                    rescale: bool) -> list[DetectionResult]:
        if not self.with_mask:
            return self.build_results(det_bboxes, det_labels, None, [], img_metas, rescale)
        boxes = self.mask_rois_boxes(det_bboxes, img_metas, rescale)
        probs = [b.new_zeros((0,)) for b in boxes]
        if any(b.shape[0] > 0 for b in boxes):
            mask_pred = self._mask_forward(x, bbox2roi(boxes), torch.cat(det_labels)).sigmoid()
            probs = list(mask_pred.split([b.shape[0] for b in boxes]))
        return self.build_results(det_bboxes, det_labels, probs, boxes, img_metas, rescale,
                                  self.mask_head)

    def predict_aug(self, feats: Sequence[Sequence[torch.Tensor]],
                    proposal_list: Sequence[torch.Tensor],
                    img_metas: Sequence[Sequence[Mapping[str, Any]]],
                    rescale: bool = True) -> list[DetectionResult]:
        """Merged detections of one image over augmentations (mmdet ``aug_test``); boxes in
        original-image pixels (× ``scale_factor`` of the first aug when not ``rescale``)."""
        aug_bboxes, aug_scores = [], []
        for x, meta in zip(feats, img_metas):
            proposals = bbox_mapping(proposal_list[0][:, :4], meta[0]["img_shape"],
                                     meta[0]["scale_factor"], meta[0].get("flip", False),
                                     meta[0].get("flip_direction") or "horizontal")
            rois = bbox2roi([proposals])
            cls_score, bbox_pred = self._bbox_forward(x, rois)
            bboxes, scores = self.bbox_head.get_bboxes(rois, cls_score, bbox_pred,
                                                       meta[0]["img_shape"],
                                                       meta[0]["scale_factor"], False, None)
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        bboxes, scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas)
        if bboxes.shape[0] == 0:
            dets, labels = bboxes.new_zeros(0, 5), bboxes.new_zeros((0,), dtype=torch.long)
        else:
            dets, labels = multiclass_nms(bboxes, scores, self.test_cfg["score_thr"],
                                          self.test_cfg["nms"], self.test_cfg["max_per_img"])
        out_dets = dets.clone()
        if not rescale:
            out_dets[:, :4] *= scale_factor_tensor(img_metas[0][0]["scale_factor"], dets)
        masks = None
        if self.with_mask:
            probs = []
            for x, meta in zip(feats, img_metas):
                boxes = bbox_mapping(dets[:, :4], meta[0]["img_shape"], meta[0]["scale_factor"],
                                     meta[0].get("flip", False),
                                     meta[0].get("flip_direction") or "horizontal")
                probs.append(self._mask_forward(x, bbox2roi([boxes]), labels).sigmoid())
            merged = merge_aug_masks(probs, [m[0] for m in img_metas])
            masks = self.mask_head.get_seg_masks(merged, dets, labels, self.test_cfg,
                                                 img_metas[0][0]["ori_shape"], 1.0, False)
        return [DetectionResult(out_dets[:, :4], out_dets[:, 4], labels, masks)]
