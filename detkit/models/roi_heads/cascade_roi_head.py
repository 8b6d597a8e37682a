"""``CascadeRoIHead`` (MMDetection v2): a loop over box stages of rising IoU thresholds,
each refining the boxes of the previous one, with one mask head per stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.roi_heads.base_roi_head import RoIHeadBase
from detkit.models.roi_heads.bbox_utils import bbox2roi, multiclass_nms
from detkit.models.roi_heads.test_time_aug import (bbox_mapping, merge_aug_bboxes,
                                                   merge_aug_masks)
from detkit.models.task_modules import SamplingResult
from detkit.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, MODELS, build
from detkit.structures.results import DetectionResult

__all__ = ["CascadeRoIHead"]


def _per_stage(cfg: Any, num_stages: int, name: str) -> list[Any]:
    if isinstance(cfg, (list, tuple)):
        if len(cfg) != num_stages:
            raise ValueError(f"CascadeRoIHead: {name} has {len(cfg)} entries for "
                             f"num_stages={num_stages}")
        return list(cfg)
    return [cfg] * num_stages


@MODELS.register_module()
class CascadeRoIHead(RoIHeadBase):
    """Cascade box stages with per-stage mask heads.

    Args:
        num_stages: number of stages.
        stage_loss_weights: multiplies each stage's ``loss*`` entries.
        bbox_roi_extractor, bbox_head: one config (replicated) or one per stage.
        mask_roi_extractor, mask_head: same for masks (None: no masks; the box extractors
            are shared when ``mask_roi_extractor`` is None).
        train_cfg: list (one per stage) of ``assigner``, ``sampler``, ``mask_size``,
            ``pos_weight``.
        test_cfg: ``score_thr``, ``nms``, ``max_per_img``, ``mask_thr_binary``.
        pretrained, init_cfg: accepted for config compatibility.

    Training returns ``s{i}.loss_cls``, ``s{i}.acc``, ``s{i}.loss_bbox``, ``s{i}.loss_mask``.
    At test time the class logits of all stages are averaged, boxes come from the last stage,
    and mask probabilities are averaged over the stages' mask heads.
    """

    def __init__(self, num_stages: int, stage_loss_weights: Sequence[float],
                 bbox_roi_extractor: Any = None, bbox_head: Any = None,
                 mask_roi_extractor: Any = None, mask_head: Any = None,
                 shared_head: Any = None, train_cfg: Any = None, test_cfg: Any = None,
                 pretrained: str | None = None, init_cfg: Any = None) -> None:
        super().__init__()
        if shared_head is not None:
            raise ValueError("CascadeRoIHead: shared_head is not supported by detkit")
        if bbox_roi_extractor is None or bbox_head is None:
            raise ValueError("CascadeRoIHead needs bbox_roi_extractor and bbox_head configs")
        if len(stage_loss_weights) != num_stages:
            raise ValueError(f"CascadeRoIHead: {len(stage_loss_weights)} stage_loss_weights for "
                             f"num_stages={num_stages}")
        self.num_stages = num_stages
        self.stage_loss_weights = list(stage_loss_weights)
        self.train_cfg = (_per_stage(train_cfg, num_stages, "train_cfg")
                          if train_cfg is not None else None)
        self.test_cfg = test_cfg
        self.bbox_roi_extractor = nn.ModuleList(
            build(c, MODELS) for c in _per_stage(bbox_roi_extractor, num_stages,
                                                  "bbox_roi_extractor"))
        self.bbox_head = nn.ModuleList(
            build(c, MODELS) for c in _per_stage(bbox_head, num_stages, "bbox_head"))
        self.with_mask = mask_head is not None
        if self.with_mask:
            self.mask_head = nn.ModuleList(
                build(c, MODELS) for c in _per_stage(mask_head, num_stages, "mask_head"))
            self.mask_roi_extractor = (self.bbox_roi_extractor if mask_roi_extractor is None
                                       else nn.ModuleList(build(c, MODELS) for c in _per_stage(
                                           mask_roi_extractor, num_stages, "mask_roi_extractor")))
        if self.train_cfg is not None:
            self.bbox_assigner = [build(c["assigner"], BBOX_ASSIGNERS) for c in self.train_cfg]
            self.bbox_sampler = [build(c["sampler"], BBOX_SAMPLERS) for c in self.train_cfg]

    def init_weights(self) -> None:
        for head in self.bbox_head:
            head.init_weights()
        if self.with_mask:
            for head in self.mask_head:
                head.init_weights()

    def _bbox_forward(self, stage: int, x: Sequence[torch.Tensor], rois: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage ``stage`` on ``rois`` ``[K, 5]`` → logits ``[K, C+1]``, deltas ``[K, 4]``."""
        cls_score, bbox_pred = self.bbox_head[stage](self.bbox_roi_extractor[stage](x, rois))
        return cls_score.float(), bbox_pred.float()

    def _mask_forward(self, stage: int, x: Sequence[torch.Tensor], rois: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
        """Stage ``stage``'s mask logits of each RoI's class ``labels[k]``: ``[K, 1, m, m]``."""
        return self.mask_head[stage](self.mask_roi_extractor[stage](x, rois), labels).float()

    # ---------------------------------------------------------------- training
    def _run_stage_train(self, stage: int, x: Sequence[torch.Tensor],
                         sampling_results: Sequence[SamplingResult],
                         gt_masks: Sequence[Any] | None
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor,
                                    torch.Tensor, torch.Tensor]:
        """Losses of one stage plus its rois, target labels, logits and deltas."""
        cfg = self.train_cfg[stage]
        head = self.bbox_head[stage]
        rois = bbox2roi([res.bboxes for res in sampling_results])
        cls_score, bbox_pred = self._bbox_forward(stage, x, rois)
        targets = head.get_targets(sampling_results, cfg)
        losses = head.loss(cls_score, bbox_pred, *targets)
        if self.with_mask:
            if gt_masks is None:
                raise ValueError("a model with mask heads needs gt_masks for training")
            pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
            pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
            mask_pred = self._mask_forward(stage, x, pos_rois, pos_labels)
            mask_targets = self.mask_head[stage].get_targets(sampling_results, gt_masks, cfg)
            losses.update(self.mask_head[stage].loss(mask_pred, mask_targets, pos_labels))
        return losses, rois, targets[0], cls_score, bbox_pred

    def _next_stage_proposals(self, stage: int, rois: torch.Tensor, labels: torch.Tensor,
                              cls_score: torch.Tensor, bbox_pred: torch.Tensor,
                              sampling_results: Sequence[SamplingResult],
                              img_metas: Sequence[Mapping[str, Any]]) -> list[torch.Tensor]:
        """Refined sampled boxes (gt boxes dropped), detached, for stage ``stage + 1``."""
        head = self.bbox_head[stage]
        with torch.no_grad():
            labels = torch.where(labels == head.num_classes, cls_score[:, :-1].argmax(1), labels)
            return head.refine_bboxes(rois, labels, bbox_pred,
                                      [res.pos_is_gt for res in sampling_results], img_metas)

    def forward_train(self, x: Sequence[torch.Tensor], img_metas: Sequence[Mapping[str, Any]],
                      proposal_list: Sequence[torch.Tensor], gt_bboxes: Sequence[torch.Tensor],
                      gt_labels: Sequence[torch.Tensor],
                      gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
                      gt_masks: Sequence[Any] | None = None) -> dict[str, torch.Tensor]:
        """Loss dict with ``s{i}.`` prefixed keys; ``loss*`` entries weighted per stage."""
        if self.train_cfg is None:
            raise ValueError("CascadeRoIHead.forward_train needs train_cfg (model.train_cfg.rcnn)")
        losses: dict[str, torch.Tensor] = {}
        for stage in range(self.num_stages):
            sampling_results = self.sample_proposals(
                self.bbox_assigner[stage], self.bbox_sampler[stage], proposal_list, gt_bboxes,
                gt_labels, gt_bboxes_ignore)
            stage_losses, rois, labels, cls_score, bbox_pred = self._run_stage_train(
                stage, x, sampling_results, gt_masks)
            weight = self.stage_loss_weights[stage]
            for name, value in stage_losses.items():
                losses[f"s{stage}.{name}"] = value * weight if "loss" in name else value
            if stage < self.num_stages - 1:
                if cls_score.numel() == 0:
                    break
                proposal_list = self._next_stage_proposals(stage, rois, labels, cls_score,
                                                           bbox_pred, sampling_results, img_metas)
        return losses

    # ---------------------------------------------------------------- inference
    def _run_stages_test(self, x: Sequence[torch.Tensor], rois: torch.Tensor,
                         img_metas: Sequence[Mapping[str, Any]], num_per_img: Sequence[int]
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All stages on ``rois``: returns the last stage's input rois, the stage-mean
        logits and the last stage's deltas."""
        stage_scores = []
        for stage in range(self.num_stages):
            cls_score, bbox_pred = self._bbox_forward(stage, x, rois)
            stage_scores.append(cls_score)
            if stage < self.num_stages - 1:
                labels = cls_score[:, :-1].argmax(dim=1)
                refined = [self.bbox_head[stage].regress_by_class(r, lab, pred, meta)
                           for r, lab, pred, meta in zip(rois.split(num_per_img),
                                                         labels.split(num_per_img),
                                                         bbox_pred.split(num_per_img), img_metas)
                           if r.shape[0] > 0]
                rois = torch.cat(refined)
        mean_score = sum(stage_scores) / float(len(stage_scores))
        return rois, mean_score, bbox_pred

    def predict(self, x: Sequence[torch.Tensor], proposal_list: Sequence[torch.Tensor],
                img_metas: Sequence[Mapping[str, Any]], rescale: bool = False
                ) -> list[DetectionResult]:
        """Detections (and masks) per image from proposals ``[N_i, 5]``.

        Mask probabilities are the mean of the stages' sigmoid maps. Decision: unlike mmdet's
        ``simple_test``, a single view whose meta says ``flip`` does not get its masks
        un-flipped (that would mirror each mask inside its box); un-flipping happens only when
        merging views in :meth:`predict_aug`.
        """
        rois = bbox2roi(proposal_list)
        num_per_img = [len(p) for p in proposal_list]
        if rois.shape[0] == 0:
            empty = [rois.new_zeros(0, 5) for _ in img_metas]
            labels = [rois.new_zeros((0,), dtype=torch.long) for _ in img_metas]
            probs = [rois.new_zeros((0,)) for _ in img_metas] if self.with_mask else None
            return self.build_results(empty, labels, probs, empty, img_metas, rescale,
                                      self.mask_head[-1] if self.with_mask else None)
        rois, cls_score, bbox_pred = self._run_stages_test(x, rois, img_metas, num_per_img)
        det_bboxes, det_labels = [], []
        for img_rois, score, pred, meta in zip(rois.split(num_per_img), cls_score.split(num_per_img),
                                               bbox_pred.split(num_per_img), img_metas):
            dets, labels = self.bbox_head[-1].get_bboxes(img_rois, score, pred, meta["img_shape"],
                                                         meta["scale_factor"], rescale,
                                                         self.test_cfg)
            det_bboxes.append(dets)
            det_labels.append(labels)
        if not self.with_mask:
            return self.build_results(det_bboxes, det_labels, None, [], img_metas, rescale)
        boxes = self.mask_rois_boxes(det_bboxes, img_metas, rescale)
        probs = [b.new_zeros((0,)) for b in boxes]
        if any(b.shape[0] > 0 for b in boxes):
            mask_rois, mask_labels = bbox2roi(boxes), torch.cat(det_labels)
            stage_probs = [self._mask_forward(s, x, mask_rois, mask_labels).sigmoid()
                           for s in range(self.num_stages)]
            merged = torch.stack(stage_probs).mean(dim=0)
            probs = list(merged.split([b.shape[0] for b in boxes]))
        return self.build_results(det_bboxes, det_labels, probs, boxes, img_metas, rescale,
                                  self.mask_head[-1])

    def predict_aug(self, feats: Sequence[Sequence[torch.Tensor]],
                    proposal_list: Sequence[torch.Tensor],
                    img_metas: Sequence[Sequence[Mapping[str, Any]]],
                    rescale: bool = True) -> list[DetectionResult]:
        """Merged detections of one image over augmentations (mmdet's cascade ``aug_test``;
        results are always in original-image pixels)."""
        aug_bboxes, aug_scores = [], []
        for x, meta in zip(feats, img_metas):
            m = meta[0]
            proposals = bbox_mapping(proposal_list[0][:, :4], m["img_shape"], m["scale_factor"],
                                     m.get("flip", False), m.get("flip_direction") or "horizontal")
            rois = bbox2roi([proposals])
            if rois.shape[0] == 0:
                aug_bboxes.append(rois.new_zeros(0, 4))
                aug_scores.append(rois.new_zeros(0, self.bbox_head[-1].num_classes + 1))
                continue
            rois, cls_score, bbox_pred = self._run_stages_test(x, rois, [m], [rois.shape[0]])
            bboxes, scores = self.bbox_head[-1].get_bboxes(rois, cls_score, bbox_pred,
                                                           m["img_shape"], m["scale_factor"],
                                                           False, None)
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        bboxes, scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas)
        dets, labels = multiclass_nms(bboxes, scores, self.test_cfg["score_thr"],
                                      self.test_cfg["nms"], self.test_cfg["max_per_img"])
        masks = None
        if self.with_mask:
            probs, prob_metas = [], []
            for x, meta in zip(feats, img_metas):
                m = meta[0]
                boxes = bbox_mapping(dets[:, :4], m["img_shape"], m["scale_factor"],
                                     m.get("flip", False), m.get("flip_direction") or "horizontal")
                mask_rois = bbox2roi([boxes])
                for stage in range(self.num_stages):
                    probs.append(self._mask_forward(stage, x, mask_rois, labels).sigmoid())
                    prob_metas.append(m)
            merged = merge_aug_masks(probs, prob_metas)
            masks = self.mask_head[-1].get_seg_masks(merged, dets, labels, self.test_cfg,
                                                     img_metas[0][0]["ori_shape"], 1.0, False)
        return [DetectionResult(dets[:, :4], dets[:, 4], labels, masks)]
