"""``RoIHeadBase``: what the standard and the cascade RoI head share. Their box (and mask)
branches, built once or once per stage, and the one stage loop (detectron2's
``_forward_box``) that trains them and runs them at test time.

A head with ``num_stages=None`` (``StandardRoIHead``) holds single modules (keys
``bbox_head.*``); with a number (``CascadeRoIHead``) it holds one module per stage in
``nn.ModuleList``s (keys ``bbox_head.0.*``). Everything else reads the stages through
:meth:`RoIHeadBase.bbox_branch` / :meth:`RoIHeadBase.mask_branch`.

Proposals, RoIs and detections are flat ``Instances`` over the batch (``boxes``,
``image_index``), so inference (:meth:`RoIHeadBase.predict`) is tensor-only and an exported
graph runs it as it is, on any batch size. A new head family is a subclass that overrides
the hooks: :meth:`_bbox_forward` / :meth:`_mask_forward` (what a stage computes),
:meth:`_stage_losses` (what a stage learns), :meth:`_refine` (what the next stage starts
from) and :meth:`_mask_probs` (the masks of the detections).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
import torch.nn as nn

from detkit.models.roi_heads import aug_merge
from detkit.models.roi_heads.stages import (
    BoxStageOutput,
    BoxStagesResult,
    StageLosses,
    kept_after_refine,
    one_config,
    per_stage,
    sampled_rois,
)
from detkit.models.task_modules import SamplingResult, multiclass_nms_per_image
from detkit.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, MODELS, build
from detkit.structures.boxes import bbox2roi, instances_to_rois
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.image_meta import BatchGeometry, ImageMeta
from detkit.structures.instances import Instances
from detkit.structures.results import DetectionResult

if TYPE_CHECKING:
    from detkit.models.roi_heads.bbox_head import ConvFCBBoxHead
    from detkit.models.roi_heads.mask_head import FCNMaskHead

__all__ = ["RoIHeadBase"]


class RoIHeadBase(nn.Module):
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

    exportable: ClassVar[bool] = True

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
            self.stage_loss_weights = list(stage_loss_weights or ())
        self.train_cfg: Any = (
            per_stage(train_cfg, self.num_stages, "train_cfg")
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
            self.shared_mask_pooling = one_config(mask_extractor_cfg) and all(
                next(iter(e.parameters()), None) is None for e in extractors
            )
        if train_cfg is not None:
            cfgs: list[Any] = self.train_cfg if self.stacked else [self.train_cfg]
            assigners = [build(c["assigner"], BBOX_ASSIGNERS) for c in cfgs]
            samplers = [build(c["sampler"], BBOX_SAMPLERS) for c in cfgs]
            self.bbox_assigner = assigners if self.stacked else assigners[0]
            self.bbox_sampler = samplers if self.stacked else samplers[0]

    def _build(self, cfg: Any, name: str) -> nn.Module:
        if not self.stacked:
            module: nn.Module = build(cfg, MODELS)
            return module
        return nn.ModuleList(build(c, MODELS) for c in per_stage(cfg, self.num_stages, name))

    def _at(self, modules: Any, stage: int) -> Any:
        return modules[stage] if self.stacked else modules

    def bbox_branch(self, stage: int) -> tuple[nn.Module, ConvFCBBoxHead]:
        """Stage ``stage``'s ``(bbox_roi_extractor, bbox_head)``."""
        return self._at(self.bbox_roi_extractor, stage), self._at(self.bbox_head, stage)

    def mask_branch(self, stage: int) -> tuple[nn.Module, FCNMaskHead]:
        """Stage ``stage``'s ``(mask_roi_extractor, mask_head)``."""
        return self._at(self.mask_roi_extractor, stage), self._at(self.mask_head, stage)

    def stage_train_cfg(self, stage: int) -> Mapping[str, Any]:
        cfg: Mapping[str, Any] = self._at(self.train_cfg, stage)
        return cfg

    def init_weights(self) -> None:
        for stage in range(self.num_stages):
            self.bbox_branch(stage)[1].init_weights()
            if self.with_mask:
                self.mask_branch(stage)[1].init_weights()

    # ---------------------------------------------------------------- what a stage computes
    def _bbox_forward(
        self, stage: int, x: Sequence[torch.Tensor] | FeaturePyramid, rois: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage ``stage`` on ``rois`` ``[K, 5]`` (``image_index, x1, y1, x2, y2``: RoIAlign's
        input) → logits ``[K, C+1]``, deltas ``[K, 4 or 4C]``, float32."""
        extractor, head = self.bbox_branch(stage)
        cls_score, bbox_pred = head(extractor(x, rois))
        return cls_score.float(), bbox_pred.float()

    def _mask_forward(
        self,
        stage: int,
        x: Sequence[torch.Tensor] | FeaturePyramid,
        rois: torch.Tensor,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """Stage ``stage``'s mask logits of each RoI's class ``labels[k]``: ``[K, 1, m, m]``."""
        extractor, head = self.mask_branch(stage)
        logits: torch.Tensor = head(extractor(x, rois), labels).float()
        return logits

    def stage_mask_probs(
        self, x: Sequence[torch.Tensor] | FeaturePyramid, rois: torch.Tensor, labels: torch.Tensor
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

    # ---------------------------------------------------------------- training
    def sample(
        self,
        stage: int,
        proposals: Instances,
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
    ) -> list[SamplingResult]:
        """Stage ``stage``'s assignment and sampling of each image's ``proposals`` (flat over
        the batch) against its ground truth (gts prepended by the sampler)."""
        assigner = self._at(self.bbox_assigner, stage)
        sampler = self._at(self.bbox_sampler, stage)
        results = []
        for i, targets in enumerate(gt):
            candidates = proposals.for_image(i)
            ignore = None if ignored is None else ignored[i]
            assigned = assigner.assign(candidates, targets, ignore)
            results.append(sampler.sample(assigned, candidates, targets))
        return results

    def loss(
        self,
        x: FeaturePyramid,
        proposals: Instances,
        metas: Sequence[ImageMeta],
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss dict of the stages trained on ``proposals`` (flat over the batch) against
        each image's ground truth ``gt`` (``boxes``, ``labels``, ``masks``)."""
        if self.train_cfg is None:
            raise ValueError(
                f"{type(self).__name__}.forward_train needs train_cfg (model.train_cfg.rcnn)"
            )
        geometry = BatchGeometry.of(metas, rescale=False, device=x[0].device)
        return self._forward_box(x, proposals, geometry, gt, ignored).losses

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
        """MMDetection v2's call: :meth:`loss` of its per-image lists and meta dicts."""
        from detkit.structures import mmdet_boundary as mmdet

        metas = [ImageMeta.of(m) for m in img_metas]
        return self.loss(
            x,
            mmdet.proposals_from_mmdet(proposal_list),
            metas,
            mmdet.gt_instances(metas, gt_bboxes, gt_labels, gt_masks),
            mmdet.ignored_instances(metas, gt_bboxes_ignore),
        )

    # ---------------------------------------------------------------- the stage loop
    def _forward_box(
        self,
        x: FeaturePyramid,
        proposals: Instances,
        geometry: BatchGeometry,
        gt: Sequence[Instances] | None = None,
        ignored: Sequence[Instances] | None = None,
    ) -> BoxStagesResult:
        """Run the box stages on ``proposals`` (``boxes``, ``image_index``): each stage pools
        its RoIs (in training: the proposals sampled against ``gt``), predicts, and refines
        the boxes the next stage starts from."""
        losses: dict[str, torch.Tensor] = {}
        stage_scores: list[torch.Tensor] = []
        boxes = proposals
        for stage in range(self.num_stages):
            sampling = None if gt is None else self.sample(stage, boxes, gt, ignored)
            rois = boxes if sampling is None else sampled_rois(sampling)
            out = BoxStageOutput(rois, *self._bbox_forward(stage, x, instances_to_rois(rois)))
            step = None
            if sampling is not None and gt is not None:
                step = self._stage_losses(stage, x, out, sampling, gt)
                losses.update(self._name_stage_losses(stage, step.losses))
            else:
                stage_scores.append(out.cls_score)
            if stage == self.num_stages - 1 or (step is not None and out.cls_score.numel() == 0):
                break
            boxes = self._refine(stage, out, geometry, step, sampling)
        if gt is not None:
            return BoxStagesResult(losses)
        # at test time every stage appended its scores
        mean_score = cast(torch.Tensor, sum(stage_scores) / float(len(stage_scores)))
        return BoxStagesResult(losses, out.rois, mean_score, out.bbox_pred)

    def _stage_losses(
        self,
        stage: int,
        x: FeaturePyramid,
        out: BoxStageOutput,
        sampling: Sequence[SamplingResult],
        gt: Sequence[Instances],
    ) -> StageLosses:
        """Box (and mask) losses of one stage's sampled RoIs."""
        cfg = self.stage_train_cfg(stage)
        head = self.bbox_branch(stage)[1]
        targets = head.get_targets(sampling, cfg)
        losses = head.loss(out.cls_score, out.bbox_pred, *targets)
        if self.with_mask:
            pos_rois = bbox2roi([res.pos_bboxes for res in sampling])
            # sampled against gt with labels: pos_gt_labels are set
            pos_labels = torch.cat([cast(torch.Tensor, res.pos_gt_labels) for res in sampling])
            mask_head = self.mask_branch(stage)[1]
            mask_targets = mask_head.get_targets(sampling, gt, cfg)
            mask_pred = self._mask_forward(stage, x, pos_rois, pos_labels)
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
        geometry: BatchGeometry,
        step: StageLosses | None,
        sampling: Sequence[SamplingResult] | None,
    ) -> Instances:
        """The boxes stage ``stage`` regressed, for the next stage: at test time by the
        predicted class; in training by the target class (the predicted one for background),
        detached, without the gt boxes the sampler added."""
        head = self.bbox_branch(stage)[1]
        rois = out.rois
        predicted = out.cls_score[:, :-1].argmax(dim=1)
        max_shape = geometry.img_shape[rois.image_index]
        if step is None or sampling is None:
            boxes = head.regress(rois.boxes, predicted, out.bbox_pred, max_shape)
            return Instances(boxes=boxes, image_index=rois.image_index)
        with torch.no_grad():
            labels = torch.where(step.labels == head.num_classes, predicted, step.labels)
            boxes = head.regress(rois.boxes, labels, out.bbox_pred, max_shape)
        keep = kept_after_refine(sampling)
        return Instances(boxes=boxes[keep], image_index=rois.image_index[keep])

    # ---------------------------------------------------------------- inference
    def predict(
        self, x: FeaturePyramid, proposals: Instances, geometry: BatchGeometry
    ) -> Instances:
        """Detections of a batch from ``proposals`` (flat: ``boxes``, ``image_index``):
        ``boxes`` ``[N, 4]`` divided by ``geometry.scale_factor``, ``scores``, ``labels``,
        ``image_index`` and, with masks, ``mask_probs`` ``[N, 1, m, m]`` (averaged over the
        stages' mask heads); each image's ``max_per_img`` best, by decreasing score.
        Tensor-only: ``torch.export`` traces it for any batch size and detection count.

        Class logits are averaged over the box stages and boxes come from the last stage.
        Decision: unlike mmdet's ``simple_test``, a single view whose meta says ``flip`` does
        not get its masks un-flipped (that would mirror each mask inside its box);
        un-flipping happens only when merging views (:meth:`predict_aug`).
        """
        stages = self._forward_box(x, proposals, geometry)
        assert stages.rois is not None and stages.cls_score is not None
        assert stages.bbox_pred is not None
        rois, cfg = stages.rois, self.test_cfg
        boxes, scores = self.bbox_branch(self.num_stages - 1)[1].predict_boxes(
            rois.boxes,
            stages.cls_score,
            stages.bbox_pred,
            geometry.img_shape[rois.image_index],
            geometry.scale_factor[rois.image_index],
        )
        detections = multiclass_nms_per_image(
            boxes,
            scores,
            rois.image_index,
            geometry.num_images,
            cfg["score_thr"],
            cfg["nms"],
            cfg["max_per_img"],
        )
        if self.with_mask:
            detections.mask_probs = self._mask_probs(x, detections, geometry)
        return detections

    def _mask_probs(
        self, x: FeaturePyramid, detections: Instances, geometry: BatchGeometry
    ) -> torch.Tensor:
        """Mask probabilities ``[N, 1, m, m]`` of the detections' classes, pooled at their
        boxes in network-input pixels (× scale), averaged over the stages' mask heads."""
        scale = geometry.scale_factor[detections.image_index]
        rois = Instances(boxes=detections.boxes * scale, image_index=detections.image_index)
        probs = self.stage_mask_probs(x, instances_to_rois(rois), detections.labels)
        return probs[0] if len(probs) == 1 else torch.stack(probs).mean(0)

    def predict_aug(
        self,
        feats: Sequence[FeaturePyramid],
        proposals: Instances,
        metas: Sequence[ImageMeta],
        rescale: bool = True,
    ) -> list[DetectionResult]:
        """Merged detections of one image over its views (``feats``, ``metas``: one per
        view) from ``proposals`` in original pixels (:func:`aug_merge.predict_aug`)."""
        return aug_merge.predict_aug(self, feats, proposals, metas, rescale)
