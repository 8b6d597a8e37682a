"""Consistent Supervision (AugFPN): auxiliary heads on the lateral maps, training only.

During training the RoIs sampled for cascade stage 0 are pooled from *each* lateral map taken
before the top-down fusion (``FeaturePyramid.laterals`` of ``AugFPN``'s training output); one
auxiliary box head (and mask head), shared across levels, predicts on every level, and each
level's losses are weighted by ``loss_weight`` (α, authors' 0.25) and summed into
``aux.loss_cls``, ``aux.loss_bbox`` (and ``aux.loss_mask``); ``aux.acc`` is the mean accuracy
over levels. The cascade head logs them under stage 0 (``s0.aux.loss_cls`` ...). Inference
never runs them.

Only stage 0 gets auxiliary heads: the laterals are shared by all stages, stage 0 samples the
RPN proposals at IoU 0.5 as the single-stage detectors of the paper do, and later stages train
on boxes refined by stage 0 at higher IoU thresholds, so more auxiliary heads would add cost
and parameters while supervising the same lateral features again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn as nn

from detkit.models.roi_heads.cascade_roi_head import CascadeRoIHead
from detkit.models.roi_heads.roi_extractors import pool_rois_per_level
from detkit.models.roi_heads.stages import BoxStageOutput, StageLosses
from detkit.models.task_modules import SamplingResult
from detkit.registry import MODELS, build
from detkit.structures.boxes import bbox2roi
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.instances import Instances

__all__ = ["ConsistentSupervision", "AugFPNCascadeRoIHead"]


class ConsistentSupervision(nn.Module):
    """Auxiliary box (and mask) head applied to RoI features of every lateral level.

    Args:
        bbox_head: config (or module) of the auxiliary box head.
        bbox_roi_layers: one parameter-free ``RoIAlign`` per level for the box branch.
        mask_head: config (or module) of the auxiliary mask head; None for none.
        mask_roi_layers: one ``RoIAlign`` per level for the mask branch.
        loss_weight: α, the weight of each level's auxiliary losses.
    """

    def __init__(
        self,
        bbox_head: Any,
        bbox_roi_layers: Sequence[nn.Module],
        mask_head: Any = None,
        mask_roi_layers: Sequence[nn.Module] | None = None,
        loss_weight: float = 0.25,
    ) -> None:
        super().__init__()
        if not isinstance(loss_weight, (int, float)) or loss_weight < 0:
            raise ValueError(
                f"consistent_supervision.loss_weight must be a number >= 0, got {loss_weight!r}"
            )
        if mask_head is not None and mask_roi_layers is None:
            raise ValueError("consistent_supervision with a mask_head needs mask_roi_layers")
        self.loss_weight = float(loss_weight)
        self.bbox_head = build(bbox_head, MODELS)
        self.mask_head = build(mask_head, MODELS)
        # parameter-free RoIAlign modules shared with the main extractors (not registered)
        self._bbox_roi_layers = list(bbox_roi_layers)
        self._mask_roi_layers = list(mask_roi_layers) if mask_roi_layers is not None else None

    def init_weights(self) -> None:
        self.bbox_head.init_weights()
        if self.mask_head is not None:
            self.mask_head.init_weights()

    def _check_laterals(self, laterals: Sequence[torch.Tensor]) -> None:
        if len(laterals) < len(self._bbox_roi_layers):
            raise ValueError(
                f"consistent supervision pools {len(self._bbox_roi_layers)} levels "
                f"(featmap_strides) but the neck gave {len(laterals)} laterals"
            )

    def loss(
        self,
        laterals: Sequence[torch.Tensor],
        sampling_results: Sequence[SamplingResult],
        rcnn_train_cfg: Mapping[str, Any],
        gt: Sequence[Instances],
    ) -> dict[str, torch.Tensor]:
        """Auxiliary losses for the sampled RoIs of one stage.

        Args:
            laterals: lateral maps ``[B, C, H_l, W_l]`` before the top-down fusion, finest first.
            sampling_results: per image, the sampled RoIs and their targets.
            rcnn_train_cfg: the stage's train cfg (``pos_weight``, ``mask_size``).
            gt: per-image ground truth (``masks`` needed with a mask head).

        Returns ``aux.loss_cls``, ``aux.loss_bbox`` (``aux.loss_mask``): α × sum over levels;
        ``aux.acc``: mean over levels (logged only).
        """
        self._check_laterals(laterals)
        rois = bbox2roi([res.bboxes for res in sampling_results])
        targets = self.bbox_head.get_targets(sampling_results, rcnn_train_cfg)
        pooled = pool_rois_per_level(laterals, rois, self._bbox_roi_layers)
        cls_all, reg_all = self.bbox_head(torch.cat(pooled))
        per_level = [
            self.bbox_head.loss(cls, reg, *targets)
            for cls, reg in zip(cls_all.split(rois.size(0)), reg_all.split(rois.size(0)))
        ]
        losses = {"aux.loss_bbox": self.loss_weight * sum(lv["loss_bbox"] for lv in per_level)}
        if "loss_cls" in per_level[0]:
            losses["aux.loss_cls"] = self.loss_weight * sum(lv["loss_cls"] for lv in per_level)
            losses["aux.acc"] = sum(lv["acc"] for lv in per_level) / len(per_level)
        else:  # no sampled RoIs: keep the classifier in the graph with a zero loss
            losses["aux.loss_cls"] = cls_all.sum()
        if self.mask_head is not None:
            losses["aux.loss_mask"] = self._mask_loss(
                laterals, sampling_results, rcnn_train_cfg, gt
            )
        return losses

    def _mask_loss(
        self,
        laterals: Sequence[torch.Tensor],
        sampling_results: Sequence[SamplingResult],
        rcnn_train_cfg: Mapping[str, Any],
        gt: Sequence[Instances],
    ) -> torch.Tensor:
        pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
        targets = self.mask_head.get_targets(sampling_results, gt, rcnn_train_cfg)
        # sampled with labels; mask layers come with the mask head (checked in __init__)
        labels = torch.cat([cast(torch.Tensor, res.pos_gt_labels) for res in sampling_results])
        mask_layers = cast("list[nn.Module]", self._mask_roi_layers)
        pooled = pool_rois_per_level(laterals, pos_rois, mask_layers)
        preds = self.mask_head(torch.cat(pooled), labels.repeat(len(pooled))).float()
        preds = preds.split(pos_rois.size(0))
        loss: torch.Tensor = self.loss_weight * sum(
            self.mask_head.loss(pred, targets, labels)["loss_mask"] for pred in preds
        )
        return loss


def _stage0_cfg(cfg: Any, name: str) -> Any:
    """A copy of stage 0's config from one config or a per-stage list."""
    first = cfg[0] if isinstance(cfg, (list, tuple)) else cfg
    if not isinstance(first, Mapping):
        raise TypeError(
            f"consistent_supervision: give {name} explicitly when the RoI head "
            f"receives built modules (got {type(first).__name__})"
        )
    return copy.deepcopy(dict(first))


@MODELS.register_module()
class AugFPNCascadeRoIHead(CascadeRoIHead):
    """``CascadeRoIHead`` with AugFPN's Consistent Supervision on stage 0 (training only).

    Args:
        consistent_supervision: None switches it off (the head then equals
            ``CascadeRoIHead``); else (default ``dict(loss_weight=0.25)``) a dict with
            ``loss_weight`` (α, default 0.25) and optionally ``bbox_head`` / ``mask_head``
            configs for the auxiliary heads (default: copies of stage 0's) and ``with_mask``
            (default: whether the model has masks).
        other arguments: as ``CascadeRoIHead`` (keywords only).

    Needs a neck whose training output carries ``laterals`` (``AugFPN``). Extra loss keys:
    ``s0.aux.loss_cls``, ``s0.aux.acc``, ``s0.aux.loss_bbox`` (``s0.aux.loss_mask``). The
    auxiliary parameters live under ``consistent_supervision.*``; inference is that of
    ``CascadeRoIHead``.
    """

    def __init__(
        self,
        consistent_supervision: Mapping[str, Any] | None = {"loss_weight": 0.25},  # noqa: B006 - read only
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.consistent_supervision: ConsistentSupervision | None = None
        if consistent_supervision is None:
            return
        if not isinstance(consistent_supervision, Mapping):
            raise TypeError(
                f"consistent_supervision must be a dict or None, got {consistent_supervision!r}"
            )
        cs_cfg = dict(consistent_supervision)
        unknown = set(cs_cfg) - {"loss_weight", "bbox_head", "mask_head", "with_mask"}
        if unknown:
            raise KeyError(f"consistent_supervision has unknown keys {sorted(unknown)}")
        with_mask = cs_cfg.get("with_mask", self.with_mask)
        if with_mask and not self.with_mask:
            raise ValueError("consistent_supervision.with_mask=True needs a mask_head")
        bbox_head = cs_cfg.get("bbox_head") or _stage0_cfg(kwargs.get("bbox_head"), "bbox_head")
        mask_head = mask_layers = None
        if with_mask:
            mask_head = cs_cfg.get("mask_head") or _stage0_cfg(kwargs.get("mask_head"), "mask_head")
            mask_extractor: Any = cast(nn.ModuleList, self.mask_roi_extractor)[0]  # stage 0's
            mask_layers = mask_extractor.roi_layers
        box_extractor: Any = cast(nn.ModuleList, self.bbox_roi_extractor)[0]  # stage 0's
        self.consistent_supervision = ConsistentSupervision(
            bbox_head,
            box_extractor.roi_layers,
            mask_head,
            mask_layers,
            cs_cfg.get("loss_weight", 0.25),
        )

    def init_weights(self) -> None:
        super().init_weights()
        if self.consistent_supervision is not None:
            self.consistent_supervision.init_weights()

    def _stage_losses(
        self,
        stage: int,
        x: FeaturePyramid,
        out: BoxStageOutput,
        sampling: Sequence[SamplingResult],
        gt: Sequence[Instances],
    ) -> StageLosses:
        step = super()._stage_losses(stage, x, out, sampling, gt)
        if stage == 0 and self.consistent_supervision is not None:
            if x.laterals is None:
                raise ValueError(
                    "consistent_supervision needs a neck whose training output "
                    "carries the lateral maps (model.neck.type='AugFPN')"
                )
            step.losses.update(
                self.consistent_supervision.loss(x.laterals, sampling, self.stage_train_cfg(0), gt)
            )
        return step
