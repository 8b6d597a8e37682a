"""``RoIHeadBase``: what the standard and the cascade RoI head share. Their box (and mask)
branches, built once or once per stage, and the one stage loop (detectron2's
``_forward_box``) that trains them and runs them at test time.

A head with ``num_stages=None`` (``StandardRoIHead``) holds single modules (keys
``bbox_head.*``); with a number (``CascadeRoIHead``) it holds one module per stage in
``nn.ModuleList``s (keys ``bbox_head.0.*``). Everything else reads the stages through
:meth:`RoIHeadBase.bbox_branch` / :meth:`RoIHeadBase.mask_branch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from detkit.models.roi_heads.predict import RoIHeadPrediction
from detkit.models.task_modules import SamplingResult
from detkit.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, MODELS, build
from detkit.structures.boxes import bbox2roi
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.ground_truth import GroundTruth

__all__ = ["BoxStageOutput", "BoxStagesResult", "RoIHeadBase", "StageLosses"]


@dataclass(frozen=True)
class BoxStageOutput:
    """One box stage on ``rois`` ``[K, 5]``: class logits ``[K, C+1]`` and deltas
    ``[K, 4 or 4C]`` (float32)."""

    rois: torch.Tensor
    cls_score: torch.Tensor
    bbox_pred: torch.Tensor


@dataclass(frozen=True)
class StageLosses:
    """One stage's losses and the target labels of its sampled RoIs (``[K]``, ``num_classes``
    = background), which pick the deltas that refine the boxes for the next stage."""

    losses: dict[str, torch.Tensor]
    labels: torch.Tensor


@dataclass(frozen=True)
class BoxStagesResult:
    """The stage loop's result: the losses (training), or the last stage's input ``rois``,
    the class logits averaged over the stages and the last stage's deltas (inference)."""

    losses: dict[str, torch.Tensor]
    rois: torch.Tensor | None = None
    cls_score: torch.Tensor | None = None
    bbox_pred: torch.Tensor | None = None


def _one_config(cfg: Any) -> bool:
    """A per-stage config that builds the same module for every stage: one config (replicated)
    or a list of equal ones."""
    if isinstance(cfg, (list, tuple)):
        return all(c == cfg[0] for c in cfg[1:])
    return isinstance(cfg, Mapping)


def _per_stage(cfg: Any, num_stages: int, name: str) -> list[Any]:
    if isinstance(cfg, (list, tuple)):
        if len(cfg) != num_stages:
            raise ValueError(
                f"CascadeRoIHead: {name} has {len(cfg)} entries for num_stages={num_stages}"
            )
        return list(cfg)
    return [cfg] * num_stages


class RoIHeadBase(RoIHeadPrediction):
    """Box branch(es) (+ mask branch(es)) on proposals, one per stage.

    Args:
        bbox_roi_extractor, bbox_head, mask_roi_extractor, mask_head: configs (or modules);
            with ``num_stages`` one config (replicated) or one per stage. The box extractor is
            shared with the masks when ``mask_roi_extractor`` is None.
        train_cfg: ``assigner``, ``sampler``, ``mask_size``, ``pos_weight`` (one per stage
            with ``num_stages``), None at test time.
        test_cfg: ``score_thr``, ``nms``, ``max_per_img``, ``mask_thr_binary``.
        num_stages: None for a single stage held as plain modules.
        stage_loss_weights: with ``num_stages``, multiplies each stage's ``loss*`` entries,
            which are then prefixed ``s{i}.``.
    """

    def __init__(
        self,
        bbox_roi_extractor: Any,
        bbox_head: Any,
        mask_roi_extractor: Any,
        mask_head: Any,
        shared_head: Any,
        train_cfg: Any,
        test_cfg: Any,
        num_stages: int | None = None,
        stage_loss_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if shared_head is not None:
            raise ValueError(f"{name}: shared_head is not supported by detkit")
        if bbox_roi_extractor is None or bbox_head is None:
            raise ValueError(f"{name} needs bbox_roi_extractor and bbox_head configs")
        self.stacked = num_stages is not None
        self.num_stages = num_stages if num_stages is not None else 1
        if self.stacked:
            count = 0 if stage_loss_weights is None else len(stage_loss_weights)
            if count != num_stages:
                raise ValueError(f"{name}: {count} stage_loss_weights for num_stages={num_stages}")
            self.stage_loss_weights = list(stage_loss_weights)
        self.train_cfg = (
            _per_stage(train_cfg, self.num_stages, "train_cfg")
            if self.stacked and train_cfg is not None
            else train_cfg
        )
        self.test_cfg = test_cfg
        self.bbox_roi_extractor = self._build(bbox_roi_extractor, "bbox_roi_extractor")
        self.bbox_head = self._build(bbox_head, "bbox_head")
        self.with_mask = mask_head is not None
        # every stage pools mask RoIs alike (one config, no parameters): at test time the
        # stages' mask heads, all on the same detections, share one pooling
        self.shared_mask_pooling = False
        if self.with_mask:
            self.mask_head = self._build(mask_head, "mask_head")
            mask_extractor_cfg = (
                bbox_roi_extractor if mask_roi_extractor is None else mask_roi_extractor
            )
            self.mask_roi_extractor = (
                self.bbox_roi_extractor
                if mask_roi_extractor is None
                else self._build(mask_roi_extractor, "mask_roi_extractor")
            )
            extractors = [self._at(self.mask_roi_extractor, s) for s in range(self.num_stages)]
            self.shared_mask_pooling = _one_config(mask_extractor_cfg) and all(
                next(iter(e.parameters()), None) is None for e in extractors
            )
        if train_cfg is not None:
            cfgs = self.train_cfg if self.stacked else [self.train_cfg]
            assigners = [build(c["assigner"], BBOX_ASSIGNERS) for c in cfgs]
            samplers = [build(c["sampler"], BBOX_SAMPLERS) for c in cfgs]
            self.bbox_assigner = assigners if self.stacked else assigners[0]
            self.bbox_sampler = samplers if self.stacked else samplers[0]

    def _build(self, cfg: Any, name: str) -> nn.Module:
        if not self.stacked:
            return build(cfg, MODELS)
        return nn.ModuleList(build(c, MODELS) for c in _per_stage(cfg, self.num_stages, name))

    def _at(self, modules: Any, stage: int) -> Any:
        return modules[stage] if self.stacked else modules

    def bbox_branch(self, stage: int) -> tuple[nn.Module, nn.Module]:
        """Stage ``stage``'s ``(bbox_roi_extractor, bbox_head)``."""
        return self._at(self.bbox_roi_extractor, stage), self._at(self.bbox_head, stage)

    def mask_branch(self, stage: int) -> tuple[nn.Module, nn.Module]:
        """Stage ``stage``'s ``(mask_roi_extractor, mask_head)``."""
        return self._at(self.mask_roi_extractor, stage), self._at(self.mask_head, stage)

    def stage_train_cfg(self, stage: int) -> Mapping[str, Any]:
        return self._at(self.train_cfg, stage)

    def init_weights(self) -> None:
        for stage in range(self.num_stages):
            self.bbox_branch(stage)[1].init_weights()
            if self.with_mask:
                self.mask_branch(stage)[1].init_weights()

    def _bbox_forward(
        self, stage: int, x: Sequence[torch.Tensor], rois: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage ``stage`` on ``rois`` ``[K, 5]`` → logits ``[K, C+1]``, deltas
        ``[K, 4 or 4C]``, float32."""
        extractor, head = self.bbox_branch(stage)
        cls_score, bbox_pred = head(extractor(x, rois))
        return cls_score.float(), bbox_pred.float()

    def _mask_forward(
        self, stage: int, x: Sequence[torch.Tensor], rois: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Stage ``stage``'s mask logits of each RoI's class ``labels[k]``: ``[K, 1, m, m]``."""
        extractor, head = self.mask_branch(stage)
        return head(extractor(x, rois), labels).float()

    @staticmethod
    def sample_proposals(
        assigner: Any,
        sampler: Any,
        proposal_list: Sequence[torch.Tensor],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None,
    ) -> list[SamplingResult]:
        """Assign and sample the proposals of every image (gts prepended by the sampler)."""
        ignores = gt_bboxes_ignore if gt_bboxes_ignore is not None else [None] * len(gt_bboxes)
        results = []
        for proposals, boxes, labels, ignore in zip(proposal_list, gt_bboxes, gt_labels, ignores):
            assign_result = assigner.assign(proposals, boxes, ignore, labels)
            results.append(sampler.sample(assign_result, proposals, boxes, labels))
        return results

    # ---------------------------------------------------------------- the stage loop
    def forward_train(
        self,
        x: FeaturePyramid,
        img_metas: Sequence[Mapping[str, Any]],
        proposal_list: Sequence[torch.Tensor],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
        gt_masks: Sequence[Any] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss dict from MMDetection's ``forward_train`` arguments (see :meth:`loss`)."""
        gt = GroundTruth.from_mmdet(img_metas, gt_bboxes, gt_labels, gt_bboxes_ignore, gt_masks)
        return self.loss(x, proposal_list, img_metas, gt)

    def loss(
        self,
        x: FeaturePyramid,
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[Mapping[str, Any]],
        gt: GroundTruth,
    ) -> dict[str, torch.Tensor]:
        """Loss dict of the stages trained on proposals ``[N_i, 5]`` against ``gt``."""
        if self.train_cfg is None:
            raise ValueError(
                f"{type(self).__name__}.forward_train needs train_cfg (model.train_cfg.rcnn)"
            )
        return self._forward_box(x, proposal_list, img_metas, gt).losses

    def _forward_box(
        self,
        x: FeaturePyramid,
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[Mapping[str, Any]],
        gt: GroundTruth | None = None,
    ) -> BoxStagesResult:
        """Run the box stages on ``proposal_list`` (``[N_i, 4+]`` per image): each stage
        pools its RoIs (in training: the proposals sampled against ``gt``), predicts, and
        refines the boxes the next stage starts from."""
        losses: dict[str, torch.Tensor] = {}
        stage_scores: list[torch.Tensor] = []
        boxes: Sequence[torch.Tensor] = proposal_list
        for stage in range(self.num_stages):
            sampling = None
            if gt is not None:
                assigner, sampler = (
                    self._at(self.bbox_assigner, stage),
                    self._at(self.bbox_sampler, stage),
                )
                sampling = self.sample_proposals(
                    assigner, sampler, boxes, gt.bboxes(), gt.labels(), gt.ignored
                )
                rois = bbox2roi([res.bboxes for res in sampling])
            else:
                rois = bbox2roi(boxes)
            out = BoxStageOutput(rois, *self._bbox_forward(stage, x, rois))
            step = None
            if sampling is not None:
                step = self._stage_losses(stage, x, out, sampling, gt)
                losses.update(self._name_stage_losses(stage, step.losses))
            else:
                stage_scores.append(out.cls_score)
            if stage == self.num_stages - 1 or (step is not None and out.cls_score.numel() == 0):
                break
            boxes = self._refine(stage, out, img_metas, step, sampling)
        if gt is not None:
            return BoxStagesResult(losses)
        return BoxStagesResult(
            losses, out.rois, sum(stage_scores) / float(len(stage_scores)), out.bbox_pred
        )

    def _stage_losses(
        self,
        stage: int,
        x: FeaturePyramid,
        out: BoxStageOutput,
        sampling: Sequence[SamplingResult],
        gt: GroundTruth,
    ) -> StageLosses:
        """Box (and mask) losses of one stage's sampled RoIs."""
        cfg = self.stage_train_cfg(stage)
        head = self.bbox_branch(stage)[1]
        targets = head.get_targets(sampling, cfg)
        losses = head.loss(out.cls_score, out.bbox_pred, *targets)
        if self.with_mask:
            gt_masks = gt.masks()
            if gt_masks is None:
                raise ValueError("a model with a mask head needs gt_masks for training")
            pos_rois = bbox2roi([res.pos_bboxes for res in sampling])
            pos_labels = torch.cat([res.pos_gt_labels for res in sampling])
            mask_pred = self._mask_forward(stage, x, pos_rois, pos_labels)
            mask_head = self.mask_branch(stage)[1]
            mask_targets = mask_head.get_targets(sampling, gt_masks, cfg)
            losses.update(mask_head.loss(mask_pred, mask_targets, pos_labels))
        return StageLosses(losses, targets[0])

    def _name_stage_losses(
        self, stage: int, losses: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Stacked heads: ``s{i}.`` prefixed keys, ``loss*`` entries times the stage weight."""
        if not self.stacked:
            return dict(losses)
        weight = self.stage_loss_weights[stage]
        return {
            f"s{stage}.{name}": value * weight if "loss" in name else value
            for name, value in losses.items()
        }

    def _refine(
        self,
        stage: int,
        out: BoxStageOutput,
        img_metas: Sequence[Mapping[str, Any]],
        step: StageLosses | None,
        sampling: Sequence[SamplingResult] | None,
    ) -> list[torch.Tensor]:
        """Per-image boxes ``[n_i, 4]`` regressed by stage ``stage``, for the next stage. In
        training by the target class (the predicted one for background), without the gt boxes
        the sampler added, detached; at test time by the predicted class."""
        head = self.bbox_branch(stage)[1]
        if step is not None and sampling is not None:
            with torch.no_grad():
                labels = torch.where(
                    step.labels == head.num_classes, out.cls_score[:, :-1].argmax(1), step.labels
                )
                return head.refine_bboxes(
                    out.rois, labels, out.bbox_pred, [res.pos_is_gt for res in sampling], img_metas
                )
        labels = out.cls_score[:, :-1].argmax(dim=1)
        boxes = []
        for i, meta in enumerate(img_metas):
            inds = torch.nonzero(out.rois[:, 0] == i, as_tuple=False).squeeze(1)
            boxes.append(
                head.regress_by_class(out.rois[inds, 1:], labels[inds], out.bbox_pred[inds], meta)
            )
        return boxes
