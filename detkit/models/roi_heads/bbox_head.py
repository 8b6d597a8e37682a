"""``ConvFCBBoxHead`` / ``Shared2FCBBoxHead`` (MMDetection v2): RoI classification and box
regression, training targets, losses and test-time decoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import ConvModule, build_linear_layer, normal_init, xavier_init
from detkit.models.losses import accuracy
from detkit.models.task_modules import SamplingResult
from detkit.ops import Linear
from detkit.registry import BBOX_CODERS, MODELS, build
from detkit.structures.image_meta import ImageMeta

__all__ = ["ConvFCBBoxHead", "Shared2FCBBoxHead", "Shared4Conv1FCBBoxHead", "accuracy"]


@MODELS.register_module()
class ConvFCBBoxHead(nn.Module):
    """Shared convs/FCs, then separate cls/reg convs/FCs, then ``fc_cls`` and ``fc_reg``.

    Args:
        num_shared_convs, num_shared_fcs, num_cls_convs, num_cls_fcs, num_reg_convs,
            num_reg_fcs: branch depths.
        conv_out_channels, fc_out_channels: widths.
        in_channels, roi_feat_size: input RoI features ``[K, in_channels, s, s]``.
        num_classes: foreground classes; ``fc_cls`` has ``num_classes + 1`` outputs, the last
            is background.
        bbox_coder, loss_cls, loss_bbox: component configs (the model configs give them; the
            defaults are MMDetection v2's ``BBoxHead`` signature defaults).
        reg_class_agnostic: 4 regression outputs instead of ``4 * num_classes``.
        reg_decoded_bbox: not supported (False).
        cls_predictor_cfg, reg_predictor_cfg: ``fc_cls`` / ``fc_reg`` layer configs for
            ``build_linear_layer``: ``dict(type='Linear')`` (default) or
            ``dict(type='NormedLinear', tempearture=20)`` (cosine classifier; either spelling
            of temperature).
        conv_cfg, norm_cfg: for the ConvModules (``norm_cfg=dict(type='GN', ...)``: GN in
            the head, keys ``shared_convs.N.gn.*``).
        init_cfg: accepted for config compatibility.

    Inference (:meth:`regress`, :meth:`predict_boxes`) is tensor-only (``exportable``).
    """

    exportable: ClassVar[bool] = True

    def __init__(
        self,
        num_shared_convs: int = 0,
        num_shared_fcs: int = 0,
        num_cls_convs: int = 0,
        num_cls_fcs: int = 0,
        num_reg_convs: int = 0,
        num_reg_fcs: int = 0,
        conv_out_channels: int = 256,
        fc_out_channels: int = 1024,
        in_channels: int = 256,
        roi_feat_size: int = 7,
        num_classes: int = 80,
        bbox_coder: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "DeltaXYWHBBoxCoder",
            "clip_border": True,
            "target_means": [0.0, 0.0, 0.0, 0.0],
            "target_stds": [0.1, 0.1, 0.2, 0.2],
        },
        reg_class_agnostic: bool = False,
        reg_decoded_bbox: bool = False,
        loss_cls: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "CrossEntropyLoss",
            "use_sigmoid": False,
            "loss_weight": 1.0,
        },
        loss_bbox: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "SmoothL1Loss",
            "beta": 1.0,
            "loss_weight": 1.0,
        },
        reg_predictor_cfg: Mapping[str, Any] | None = None,
        cls_predictor_cfg: Mapping[str, Any] | None = None,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__()
        if reg_decoded_bbox:
            raise ValueError(
                "bbox head: reg_decoded_bbox=True (the box loss on decoded boxes, as the IoU-type "
                "losses need) is not supported by this head yet"
            )
        _check_branches(
            num_shared_convs, num_shared_fcs, num_cls_convs, num_cls_fcs, num_reg_convs, num_reg_fcs
        )
        self.in_channels = in_channels
        self.roi_feat_size = roi_feat_size
        self.num_classes = num_classes
        self.reg_class_agnostic = reg_class_agnostic
        self.conv_out_channels = conv_out_channels
        self.fc_out_channels = fc_out_channels
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.bbox_coder = build(bbox_coder, BBOX_CODERS)
        self.loss_cls = build(loss_cls, MODELS)
        self.loss_bbox = build(loss_bbox, MODELS)
        self.num_shared_fcs = num_shared_fcs
        shared_convs, shared_fcs, shared_dim = self._make_branch(
            num_shared_convs, num_shared_fcs, in_channels, True
        )
        cls_convs, cls_fcs, cls_dim = self._make_branch(num_cls_convs, num_cls_fcs, shared_dim)
        reg_convs, reg_fcs, reg_dim = self._make_branch(num_reg_convs, num_reg_fcs, shared_dim)
        area = roi_feat_size * roi_feat_size
        if num_shared_fcs == 0:
            cls_dim = cls_dim * area if num_cls_fcs == 0 else cls_dim
            reg_dim = reg_dim * area if num_reg_fcs == 0 else reg_dim
        # fc_cls / fc_reg registered first: mmdet's state-dict order
        self.fc_cls = build_linear_layer(cls_predictor_cfg, cls_dim, num_classes + 1)
        self.fc_reg = build_linear_layer(
            reg_predictor_cfg, reg_dim, 4 if reg_class_agnostic else 4 * num_classes
        )
        self.shared_convs, self.shared_fcs = shared_convs, shared_fcs
        self.cls_convs, self.cls_fcs = cls_convs, cls_fcs
        self.reg_convs, self.reg_fcs = reg_convs, reg_fcs
        self.relu = nn.ReLU(inplace=True)
        self.init_weights()

    def _make_branch(
        self, num_convs: int, num_fcs: int, in_channels: int, is_shared: bool = False
    ) -> tuple[nn.ModuleList, nn.ModuleList, int]:
        convs = nn.ModuleList(
            ConvModule(
                in_channels if i == 0 else self.conv_out_channels,
                self.conv_out_channels,
                3,
                padding=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
            )
            for i in range(num_convs)
        )
        last = self.conv_out_channels if num_convs > 0 else in_channels
        fcs = nn.ModuleList()
        if num_fcs > 0:
            if is_shared or self.num_shared_fcs == 0:
                last *= self.roi_feat_size * self.roi_feat_size
            for i in range(num_fcs):
                fcs.append(Linear(last if i == 0 else self.fc_out_channels, self.fc_out_channels))
            last = self.fc_out_channels
        return convs, fcs, last

    def init_weights(self) -> None:
        """``fc_cls`` Normal(0.01), ``fc_reg`` Normal(0.001), other FCs Xavier-uniform."""
        normal_init(self.fc_cls, std=0.01)
        normal_init(self.fc_reg, std=0.001)
        for fcs in (self.shared_fcs, self.cls_fcs, self.reg_fcs):
            for fc in fcs:
                xavier_init(fc, distribution="uniform")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RoI features ``[K, C, s, s]`` → class logits ``[K, C+1]``, deltas ``[K, 4 or 4C]``."""
        for conv in self.shared_convs:
            x = conv(x)
        if len(self.shared_fcs) > 0:
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        x_cls = x_reg = x
        for convs, fcs, is_cls in (
            (self.cls_convs, self.cls_fcs, True),
            (self.reg_convs, self.reg_fcs, False),
        ):
            y = x
            for conv in convs:
                y = conv(y)
            if y.dim() > 2:
                y = y.flatten(1)
            for fc in fcs:
                y = self.relu(fc(y))
            if is_cls:
                x_cls = y
            else:
                x_reg = y
        return self.fc_cls(x_cls), self.fc_reg(x_reg)

    # ---------------------------------------------------------------- training
    def get_targets(
        self, sampling_results: Sequence[SamplingResult], rcnn_train_cfg: Mapping[str, Any]
    ) -> tuple[torch.Tensor, ...]:
        """Concatenated over images (positives then negatives per image): labels ``[K]``
        (``num_classes`` = background), label weights ``[K]``, box targets ``[K, 4]`` and
        box weights ``[K, 4]``."""
        pos_weight = rcnn_train_cfg.get("pos_weight", -1)
        out: list[list[torch.Tensor]] = [[], [], [], []]
        for res in sampling_results:
            num_pos, num_neg = res.pos_bboxes.size(0), res.neg_bboxes.size(0)
            n = num_pos + num_neg
            labels = res.pos_bboxes.new_full((n,), self.num_classes, dtype=torch.long)
            label_weights = res.pos_bboxes.new_zeros(n)
            targets = res.pos_bboxes.new_zeros(n, 4)
            weights = res.pos_bboxes.new_zeros(n, 4)
            if num_pos > 0:
                labels[:num_pos] = cast(torch.Tensor, res.pos_gt_labels)  # sampled with labels
                label_weights[:num_pos] = 1.0 if pos_weight <= 0 else pos_weight
                targets[:num_pos] = self.bbox_coder.encode(res.pos_bboxes, res.pos_gt_bboxes)
                weights[:num_pos] = 1
            if num_neg > 0:
                label_weights[-num_neg:] = 1.0
            for acc, t in zip(out, (labels, label_weights, targets, weights)):
                acc.append(t)
        return tuple(torch.cat(t, 0) for t in out)

    def loss(
        self,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor,
        bbox_targets: torch.Tensor,
        bbox_weights: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """``loss_cls`` (mean over sampled RoIs), ``acc`` (%), ``loss_bbox`` (summed over
        positives, divided by the number of sampled RoIs)."""
        losses: dict[str, torch.Tensor] = {}
        cls_score, bbox_pred = cls_score.float(), bbox_pred.float()
        avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.0)
        if cls_score.numel() > 0:
            losses["loss_cls"] = self.loss_cls(
                cls_score, labels, label_weights, avg_factor=avg_factor
            )
            losses["acc"] = accuracy(cls_score, labels)
        pos = (labels >= 0) & (labels < self.num_classes)
        if pos.any():
            if self.reg_class_agnostic:
                pos_pred = bbox_pred.view(bbox_pred.size(0), 4)[pos]
            else:
                pos_pred = bbox_pred.view(bbox_pred.size(0), -1, 4)[pos, labels[pos]]
            losses["loss_bbox"] = self.loss_bbox(
                pos_pred, bbox_targets[pos], bbox_weights[pos], avg_factor=bbox_targets.size(0)
            )
        else:
            losses["loss_bbox"] = bbox_pred[pos].sum()
        return losses

    # ---------------------------------------------------------------- inference
    def regress(
        self,
        boxes: torch.Tensor,
        labels: torch.Tensor,
        bbox_pred: torch.Tensor,
        max_shape: torch.Tensor | Sequence[int],
    ) -> torch.Tensor:
        """Boxes ``[K, 4]`` moved by the deltas of class ``labels`` ``[K]`` (the only ones of
        a class-agnostic head), clipped to ``max_shape`` (``(H, W)``, or float ``[K, 2]``
        per row)."""
        if not self.reg_class_agnostic:
            labels = labels * 4
            inds = torch.stack((labels, labels + 1, labels + 2, labels + 3), 1)
            bbox_pred = torch.gather(bbox_pred, 1, inds)
        decoded: torch.Tensor = self.bbox_coder.decode(boxes, bbox_pred, max_shape=max_shape)
        return decoded

    def regress_by_class(
        self,
        rois: torch.Tensor,
        label: torch.Tensor,
        bbox_pred: torch.Tensor,
        img_meta: ImageMeta | Mapping[str, Any],
    ) -> torch.Tensor:
        """MMDetection v2's call: :meth:`regress` of ``rois`` ``[K, 4]`` or ``[K, 5]`` (the
        batch-index column kept) within the image of ``img_meta``."""
        boxes = self.regress(rois[:, -4:], label, bbox_pred, ImageMeta.of(img_meta).img_shape)
        return boxes if rois.size(1) == 4 else torch.cat((rois[:, [0]], boxes), dim=1)

    def predict_boxes(
        self,
        boxes: torch.Tensor,
        cls_score: torch.Tensor,
        bbox_pred: torch.Tensor,
        max_shape: torch.Tensor,
        scale: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoded boxes ``[K, 4 or 4C]`` of RoIs ``boxes`` ``[K, 4]``, clipped to
        ``max_shape`` (float ``[K, 2]``) and divided by ``scale`` (float ``[K, 4]``), and the
        softmax scores ``[K, C+1]``."""
        scores = F.softmax(cls_score.float(), dim=-1)
        decoded = self.bbox_coder.decode(boxes, bbox_pred.float(), max_shape=max_shape)
        num, cols = decoded.size(0), decoded.size(1)
        decoded = (decoded.view(num, cols // 4, 4) / scale[:, None, :]).view(num, cols)
        return decoded, scores


_BRANCH_KEYS = (
    "num_shared_convs",
    "num_shared_fcs",
    "num_cls_convs",
    "num_cls_fcs",
    "num_reg_convs",
    "num_reg_fcs",
)


def _check_branches(*depths: int) -> None:
    """MMDetection's ``ConvFCBBoxHead`` rules on the six branch depths (``_BRANCH_KEYS``)."""
    named = dict(zip(_BRANCH_KEYS, depths))
    if sum(depths) <= 0:
        raise ValueError(f"ConvFCBBoxHead: all branches are empty ({named})")
    if (named["num_cls_convs"] > 0 or named["num_reg_convs"] > 0) and named["num_shared_fcs"]:
        raise ValueError(
            f"ConvFCBBoxHead: num_cls_convs / num_reg_convs > 0 need num_shared_fcs=0 (convs "
            f"cannot follow fcs); got {named}"
        )


def _refuse_fixed(name: str, kwargs: Mapping[str, Any]) -> None:
    for key in _BRANCH_KEYS:
        if key in kwargs:
            raise TypeError(f"{name} fixes {key}; use ConvFCBBoxHead to change it")


@MODELS.register_module()
class Shared2FCBBoxHead(ConvFCBBoxHead):
    """Two shared FC layers (``shared_fcs.0``, ``shared_fcs.1``), then ``fc_cls``/``fc_reg``."""

    def __init__(self, fc_out_channels: int = 1024, **kwargs: Any) -> None:
        _refuse_fixed("Shared2FCBBoxHead", kwargs)
        super().__init__(num_shared_fcs=2, fc_out_channels=fc_out_channels, **kwargs)


@MODELS.register_module()
class Shared4Conv1FCBBoxHead(ConvFCBBoxHead):
    """Four shared 3×3 ConvModules (``shared_convs.0..3``: ``conv``, and ``gn``/``bn`` with
    ``norm_cfg``), one shared FC (``shared_fcs.0``), then ``fc_cls``/``fc_reg``; the head of
    MMDetection's ``gn/``, ``gn+ws/``, ``resnest/`` and ``scratch/`` configs."""

    def __init__(self, fc_out_channels: int = 1024, **kwargs: Any) -> None:
        _refuse_fixed("Shared4Conv1FCBBoxHead", kwargs)
        super().__init__(
            num_shared_convs=4, num_shared_fcs=1, fc_out_channels=fc_out_channels, **kwargs
        )
