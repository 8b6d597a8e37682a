"""``RPNHead`` (MMDetection v2 ``RPNHead`` + ``AnchorHead`` training targets and proposals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import ConvModule, normal_init
from detkit.models.task_modules import nms_per_image_by_cfg
from detkit.ops import Conv2d
from detkit.registry import (
    BBOX_ASSIGNERS,
    BBOX_CODERS,
    BBOX_SAMPLERS,
    MODELS,
    PRIOR_GENERATORS,
    build,
)
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.image_meta import ImageMeta, image_metas
from detkit.structures.instances import Instances
from detkit.structures.mmdet_boundary import proposals_to_mmdet

__all__ = ["RPNHead", "anchor_inside_flags", "proposal_settings"]


def anchor_inside_flags(
    flat_anchors: torch.Tensor,
    valid_flags: torch.Tensor,
    img_shape: Sequence[int],
    allowed_border: int = 0,
) -> torch.Tensor:
    """Bool ``[N]``: valid anchors lying inside ``img_shape`` (H, W) up to ``allowed_border``
    px; ``allowed_border < 0`` keeps every valid anchor."""
    img_h, img_w = img_shape[:2]
    if allowed_border < 0:
        return valid_flags
    return (
        valid_flags
        & (flat_anchors[:, 0] >= -allowed_border)
        & (flat_anchors[:, 1] >= -allowed_border)
        & (flat_anchors[:, 2] < img_w + allowed_border)
        & (flat_anchors[:, 3] < img_h + allowed_border)
    )


def _cfg_get(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if cfg is not None else default


def proposal_settings(cfg: Mapping[str, Any]) -> tuple[float, int]:
    """``(nms iou_threshold, max_per_img)`` of an RPN proposal/test config; the pre-2.10
    spellings ``nms_thr`` and ``nms_post``/``max_num`` are accepted (mmdet's RPN kept the first
    ``nms_post`` boxes, the same as ``max_per_img`` now)."""
    if "nms" in cfg:
        iou = cfg["nms"]["iou_threshold"]
    elif "nms_thr" in cfg:
        iou = cfg["nms_thr"]
    else:
        raise KeyError(f"RPN config {dict(cfg)!r} needs nms=dict(type='nms', iou_threshold=...)")
    for key in ("max_per_img", "nms_post", "max_num"):
        if key in cfg:
            return float(iou), int(cfg[key])
    raise KeyError(f"RPN config {dict(cfg)!r} needs max_per_img")


@MODELS.register_module()
class RPNHead(nn.Module):
    """Region proposal network head shared across FPN levels.

    Args:
        in_channels: channels of each input level.
        feat_channels: channels of the shared 3×3 conv.
        num_classes: 1 (objectness).
        num_convs: shared convs before the predictors.
        anchor_generator, bbox_coder, loss_cls, loss_bbox: component configs (the model
            configs in ``configs/_base_/models`` give them; the defaults are MMDetection v2's
            ``AnchorHead`` signature defaults).
        reg_decoded_bbox: regress decoded boxes (not supported by the losses here: False).
        train_cfg: ``assigner``, ``sampler``, ``allowed_border``, ``pos_weight``.
        test_cfg: ``nms_pre``, ``max_per_img``, ``nms`` (``iou_threshold``), ``min_bbox_size``.
        init_cfg: accepted for config compatibility (init is Normal(0, 0.01) on convs).

    ``forward(feats)`` → ``(cls_scores, bbox_preds)``: per level ``[B, A, H, W]`` and
    ``[B, 4A, H, W]``. Proposals are one flat ``Instances`` over the batch (``boxes``
    ``[P, 4]`` xyxy network-input pixels clipped to ``img_shape``, ``scores`` ``[P]``,
    ``image_index`` ``[P]``); the v2 methods ``simple_test_rpn``/``get_bboxes`` give them per
    image as ``[N, 5]`` ``[x1, y1, x2, y2, score]``. Inference is tensor-only
    (``exportable``).
    """

    exportable: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int,
        feat_channels: int = 256,
        num_classes: int = 1,
        num_convs: int = 1,
        anchor_generator: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "AnchorGenerator",
            "scales": [8, 16, 32],
            "ratios": [0.5, 1.0, 2.0],
            "strides": [4, 8, 16, 32, 64],
        },
        bbox_coder: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "DeltaXYWHBBoxCoder",
            "clip_border": True,
            "target_means": (0.0, 0.0, 0.0, 0.0),
            "target_stds": (1.0, 1.0, 1.0, 1.0),
        },
        loss_cls: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "CrossEntropyLoss",
            "use_sigmoid": True,
            "loss_weight": 1.0,
        },
        loss_bbox: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "SmoothL1Loss",
            "beta": 1.0 / 9.0,
            "loss_weight": 1.0,
        },
        reg_decoded_bbox: bool = False,
        train_cfg: Mapping[str, Any] | None = None,
        test_cfg: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if reg_decoded_bbox:
            raise ValueError(
                "RPNHead: reg_decoded_bbox=True (the box loss on decoded boxes, as the IoU-type "
                "losses need) is not supported by this head yet"
            )
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.num_classes = num_classes
        self.prior_generator = build(anchor_generator, PRIOR_GENERATORS)
        self.bbox_coder = build(bbox_coder, BBOX_CODERS)
        self.loss_cls = build(loss_cls, MODELS)
        self.loss_bbox = build(loss_bbox, MODELS)
        self.use_sigmoid_cls = getattr(self.loss_cls, "use_sigmoid", False)
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if train_cfg is not None:
            self.assigner = build(train_cfg["assigner"], BBOX_ASSIGNERS)
            self.sampler = build(train_cfg["sampler"], BBOX_SAMPLERS)
        num_anchors = self.prior_generator.num_base_anchors[0]
        if num_convs > 1:
            self.rpn_conv: nn.Module = nn.Sequential(
                *[
                    ConvModule(
                        in_channels if i == 0 else feat_channels,
                        feat_channels,
                        3,
                        padding=1,
                        inplace=False,
                    )
                    for i in range(num_convs)
                ]
            )
        else:
            self.rpn_conv = Conv2d(in_channels, feat_channels, 3, padding=1)
        self.rpn_cls = Conv2d(feat_channels, num_anchors * self.cls_out_channels, 1)
        self.rpn_reg = Conv2d(feat_channels, num_anchors * 4, 1)
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, 0.01) weights, zero biases on every conv."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                normal_init(m, std=0.01)

    def forward(
        self, feats: Sequence[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_scores, bbox_preds = [], []
        for x in feats:
            x = self.rpn_conv(x)
            x = F.relu(x, inplace=False)
            cls_scores.append(self.rpn_cls(x))
            bbox_preds.append(self.rpn_reg(x))
        return cls_scores, bbox_preds

    # ---------------------------------------------------------------- training
    def _targets_single(
        self,
        flat_anchors: torch.Tensor,
        valid_flags: torch.Tensor,
        gt: Instances,
        ignored: Instances | None,
        meta: ImageMeta,
    ) -> tuple[torch.Tensor, ...]:
        """Labels, label weights, box targets and weights for all anchors of one image."""
        train_cfg = cast(Mapping[str, Any], self.train_cfg)  # loss() checked it is set
        num_anchors = flat_anchors.size(0)
        labels = flat_anchors.new_full((num_anchors,), self.num_classes, dtype=torch.long)
        label_weights = flat_anchors.new_zeros(num_anchors, dtype=torch.float)
        bbox_targets = torch.zeros_like(flat_anchors)
        bbox_weights = torch.zeros_like(flat_anchors)
        inside = anchor_inside_flags(
            flat_anchors, valid_flags, meta.img_shape, train_cfg["allowed_border"]
        )
        if not inside.any():
            empty = flat_anchors.new_zeros(0, dtype=torch.long)
            return labels, label_weights, bbox_targets, bbox_weights, empty, empty
        inside_inds = torch.nonzero(inside, as_tuple=False).view(-1)
        anchors = Instances(boxes=flat_anchors[inside_inds])
        targets = Instances(gt.image_size, boxes=gt.boxes)  # objectness: no class labels
        assign_result = self.assigner.assign(anchors, targets, ignored)
        sampling = self.sampler.sample(assign_result, anchors, targets)
        pos, neg = inside_inds[sampling.pos_inds], inside_inds[sampling.neg_inds]
        if pos.numel() > 0:
            bbox_targets[pos] = self.bbox_coder.encode(sampling.pos_bboxes, sampling.pos_gt_bboxes)
            bbox_weights[pos] = 1.0
            labels[pos] = 0
            pos_weight = _cfg_get(train_cfg, "pos_weight", -1)
            label_weights[pos] = 1.0 if pos_weight <= 0 else pos_weight
        if neg.numel() > 0:
            label_weights[neg] = 1.0
        return (
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            sampling.pos_inds,
            sampling.neg_inds,
        )

    def loss(
        self,
        cls_scores: Sequence[torch.Tensor],
        bbox_preds: Sequence[torch.Tensor],
        metas: Sequence[ImageMeta],
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
    ) -> dict[str, list[torch.Tensor]]:
        """``loss_rpn_cls`` / ``loss_rpn_bbox``: lists over levels, each divided by the total
        number of sampled anchors (every image counting at least 1 pos and 1 neg)."""
        if self.train_cfg is None:
            raise ValueError("RPNHead.loss needs train_cfg (model.train_cfg.rpn)")
        featmap_sizes = [tuple(s.shape[-2:]) for s in cls_scores]
        device = cls_scores[0].device
        anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        num_level = [a.size(0) for a in anchors]
        flat_anchors = torch.cat(anchors)
        per_image = []
        for i, meta in enumerate(metas):
            valid = torch.cat(
                self.prior_generator.valid_flags(featmap_sizes, meta.pad_shape, device)
            )
            ignore = None if ignored is None else ignored[i]
            per_image.append(self._targets_single(flat_anchors, valid, gt[i], ignore, meta))
        labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds = zip(*per_image)
        num_samples = sum(max(p.numel(), 1) for p in pos_inds) + sum(
            max(n.numel(), 1) for n in neg_inds
        )

        def per_level(tensors: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
            levels = torch.stack(tensors)
            return list(levels.split(num_level, dim=1))  # type: ignore[no-untyped-call]  # torch leaves it unannotated

        losses_cls, losses_bbox = [], []
        for lvl, (lab, lw, bt, bw) in enumerate(
            zip(
                per_level(labels),
                per_level(label_weights),
                per_level(bbox_targets),
                per_level(bbox_weights),
            )
        ):
            cls = cls_scores[lvl].permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
            reg = bbox_preds[lvl].permute(0, 2, 3, 1).reshape(-1, 4)
            losses_cls.append(
                self.loss_cls(cls, lab.reshape(-1), lw.reshape(-1), avg_factor=num_samples)
            )
            losses_bbox.append(
                self.loss_bbox(reg, bt.reshape(-1, 4), bw.reshape(-1, 4), avg_factor=num_samples)
            )
        return {"loss_rpn_cls": losses_cls, "loss_rpn_bbox": losses_bbox}

    def loss_and_predict(
        self,
        x: Sequence[torch.Tensor] | FeaturePyramid,
        metas: Sequence[ImageMeta],
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
        proposal_cfg: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, list[torch.Tensor]], Instances]:
        """RPN losses (class-agnostic) and the proposals of the detached outputs."""
        cls_scores, bbox_preds = self(x)
        losses = self.loss(cls_scores, bbox_preds, metas, gt, ignored)
        img_shape = torch.tensor(
            [m.img_shape for m in metas], dtype=torch.float32, device=cls_scores[0].device
        )
        return losses, self.proposals(cls_scores, bbox_preds, img_shape, proposal_cfg)

    # ---------------------------------------------------------------- inference
    def proposals(
        self,
        cls_scores: Sequence[torch.Tensor],
        bbox_preds: Sequence[torch.Tensor],
        img_shape: torch.Tensor,
        cfg: Mapping[str, Any] | None = None,
    ) -> Instances:
        """Proposals of a batch (detached): per level each image's ``nms_pre`` best anchors,
        decoded and clipped to ``img_shape`` (float32 ``[B, 2]``), boxes not larger than
        ``min_bbox_size`` dropped, then each image's ``max_per_img`` best survivors of NMS per
        level; by decreasing score."""
        cfg = self.test_cfg if cfg is None else cfg
        if cfg is None:
            raise ValueError("RPNHead needs a proposal config (model.test_cfg.rpn)")
        nms_pre = cfg.get("nms_pre", -1)
        num_images = cls_scores[0].size(0)
        anchors = self.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores], dtype=torch.float32, device=cls_scores[0].device
        )
        scores_l, deltas_l, anchors_l, levels_l = [], [], [], []
        for lvl, (score, delta) in enumerate(zip(cls_scores, bbox_preds)):
            score = score.detach().float().permute(0, 2, 3, 1).reshape(num_images, -1)
            if self.use_sigmoid_cls:
                score = score.sigmoid()
            else:
                score = score.reshape(num_images, -1, 2).softmax(dim=-1)[..., 0]
            delta = delta.detach().float().permute(0, 2, 3, 1).reshape(num_images, -1, 4)
            level_anchors = anchors[lvl].expand(num_images, -1, 4)
            if nms_pre > 0:  # the best nms_pre (all on a small level: a symbolic min)
                score, order = score.topk(torch.sym_min(nms_pre, score.size(1)), dim=1)
                delta = delta.gather(1, order[..., None].expand(-1, -1, 4))
                level_anchors = anchors[lvl][order]
            scores_l.append(score)
            deltas_l.append(delta)
            anchors_l.append(level_anchors)
            levels_l.append(torch.full_like(score, lvl, dtype=torch.long))
        batch_scores = torch.cat(scores_l, dim=1)  # [B, M]
        image_index = torch.arange(num_images, device=batch_scores.device)[:, None]
        image_index = image_index.expand_as(batch_scores).reshape(-1)
        scores, levels = batch_scores.reshape(-1), torch.cat(levels_l, dim=1).reshape(-1)
        boxes = self.bbox_coder.decode(
            torch.cat(anchors_l, dim=1).reshape(-1, 4),
            torch.cat(deltas_l, dim=1).reshape(-1, 4),
            max_shape=img_shape[image_index],
        )
        min_size = cfg.get("min_bbox_size", -1)
        if min_size >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            keep = torch.nonzero((wh[:, 0] > min_size) & (wh[:, 1] > min_size)).squeeze(1)
            boxes, scores, levels, image_index = (
                boxes[keep],
                scores[keep],
                levels[keep],
                image_index[keep],
            )
        iou_threshold, max_per_img = proposal_settings(cfg)
        nms_cfg = cfg.get("nms", dict(type="nms", iou_threshold=iou_threshold))
        if nms_cfg.get("type", "nms") == "nms":  # the legacy nms_thr spelling included
            nms_cfg = dict(nms_cfg, iou_threshold=iou_threshold)
        keep, kept_scores = nms_per_image_by_cfg(
            boxes,
            scores,
            levels,
            len(cls_scores),
            image_index,
            num_images,
            nms_cfg,
            max_per_img,
        )
        return Instances(boxes=boxes[keep], scores=kept_scores, image_index=image_index[keep])

    def predict(
        self,
        x: Sequence[torch.Tensor] | FeaturePyramid,
        img_shape: torch.Tensor,
        cfg: Mapping[str, Any] | None = None,
    ) -> Instances:
        """Test-time proposals (``test_cfg`` unless ``cfg``) of features ``x``; ``img_shape``
        float32 ``[B, 2]``."""
        cls_scores, bbox_preds = self(x)
        return self.proposals(cls_scores, bbox_preds, img_shape, cfg)

    # ---------------------------------------------------------------- MMDetection v2 calls
    def get_bboxes(
        self,
        cls_scores: Sequence[torch.Tensor],
        bbox_preds: Sequence[torch.Tensor],
        img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        cfg: Mapping[str, Any] | None = None,
    ) -> list[torch.Tensor]:
        """Per image proposals ``[N, 5]`` (detached), sorted by score."""
        metas = image_metas(img_metas)
        img_shape = torch.tensor(
            [m.img_shape for m in metas], dtype=torch.float32, device=cls_scores[0].device
        )
        return proposals_to_mmdet(
            self.proposals(cls_scores, bbox_preds, img_shape, cfg), len(metas)
        )

    def simple_test_rpn(
        self, x: Sequence[torch.Tensor], img_metas: Sequence[ImageMeta | Mapping[str, Any]]
    ) -> list[torch.Tensor]:
        """Test-time proposals with ``test_cfg``, per image ``[N, 5]``."""
        heads: tuple[list[torch.Tensor], list[torch.Tensor]] = self(x)
        return self.get_bboxes(*heads, img_metas)
