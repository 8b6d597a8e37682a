"""``DeployableDetector``: a trained two-stage detector (Mask / Cascade Mask R-CNN) as one
tensor-in, tensor-out module that ``torch.export`` traces and ONNX stores.

Inputs (batch of one image): ``img`` float32 ``[1, 3, H, W]`` (normalised and padded by the
config's test pipeline), ``img_shape`` float32 ``[2]`` (h, w before padding: boxes are
clipped to it) and ``scale_factor`` float32 ``[4]`` (w, h, w, h: boxes are divided by it).
Outputs: ``boxes`` ``[N, 4]`` xyxy in original-image pixels (``img / scale_factor``),
``scores`` ``[N]`` by decreasing score, ``labels`` int64 ``[N]`` and, for mask models,
``mask_probs`` ``[N, 1, m, m]`` (sigmoid, averaged over cascade stages) of the RoI of each
detection. Pasting masks onto the image is left to :func:`detkit.deploy.postprocess`.

The backbone, neck, heads' layers and RoIAlign are the model's own modules; the test-time
steps between them come from :mod:`detkit.deploy.graph_ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.deploy.graph_ops import batched_nms, decode_deltas, extract_rois, multiclass_nms
from detkit.models.dense_heads.rpn_head import proposal_settings

__all__ = ["DeployableDetector", "check_exportable"]

_SUPPORTED = {
    "detector": ("MaskRCNN", "CascadeRCNN", "FasterRCNN", "TwoStageDetector"),
    "rpn_head": ("RPNHead",),
    "roi_head": ("StandardRoIHead", "CascadeRoIHead"),
    "bbox_head": ("ConvFCBBoxHead", "Shared2FCBBoxHead"),
    "mask_head": ("FCNMaskHead",),
    "bbox_roi_extractor": ("SingleRoIExtractor", "SoftRoIExtractor"),
    "mask_roi_extractor": ("SingleRoIExtractor", "SoftRoIExtractor"),
}


def _as_list(module: nn.Module) -> list[nn.Module]:
    return list(module) if isinstance(module, nn.ModuleList) else [module]


def check_exportable(model: nn.Module) -> None:
    """Raise ``TypeError`` naming the first module that has no export path."""
    parts: list[tuple[str, nn.Module]] = [("detector", model)]
    for name in ("rpn_head", "roi_head"):
        if getattr(model, name, None) is None:
            raise TypeError(
                f"export: {type(model).__name__} has no {name}; only two-stage "
                "detectors (Faster/Mask/Cascade R-CNN) can be exported"
            )
        parts.append((name, getattr(model, name)))
    roi_head = model.roi_head
    for name in ("bbox_head", "bbox_roi_extractor", "mask_head", "mask_roi_extractor"):
        for module in _as_list(getattr(roi_head, name, None) or nn.ModuleList()):
            parts.append((name, module))
    for role, module in parts:
        kind = type(module).__name__
        if kind not in _SUPPORTED[role]:
            raise TypeError(
                f"export: {role} {kind} ({type(module).__module__}) cannot be "
                f"exported; supported: {', '.join(_SUPPORTED[role])}"
            )
    rpn = model.rpn_head
    if not rpn.use_sigmoid_cls:
        raise TypeError(
            "export: RPNHead with a softmax objectness (use_sigmoid=False) cannot be exported"
        )
    if model.roi_head.test_cfg is None or rpn.test_cfg is None:
        raise ValueError("export: the model needs test_cfg.rpn and test_cfg.rcnn")


class DeployableDetector(nn.Module):
    """Export view of a two-stage detector in eval mode (shares its modules)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        self.cascade = type(model.roi_head).__name__ == "CascadeRoIHead"
        self.with_mask = model.with_mask

    # ---------------------------------------------------------------- RPN
    def _proposals(self, feats: Sequence[torch.Tensor], img_shape: torch.Tensor) -> torch.Tensor:
        """``RPNHead._proposals_single``: ``[P, 4]`` proposals sorted by score."""
        rpn = self.model.rpn_head
        cfg = rpn.test_cfg
        cls_scores, bbox_preds = rpn(feats)
        sizes = [tuple(s.shape[-2:]) for s in cls_scores]
        anchors = rpn.prior_generator.grid_priors(
            sizes, dtype=torch.float32, device=cls_scores[0].device
        )
        nms_pre = cfg.get("nms_pre", -1)
        scores_l, deltas_l, anchors_l, ids_l = [], [], [], []
        for lvl, (score, delta) in enumerate(zip(cls_scores, bbox_preds)):
            score = score[0].float().permute(1, 2, 0).reshape(-1).sigmoid()
            delta = delta[0].float().permute(1, 2, 0).reshape(-1, 4)
            level_anchors = anchors[lvl]
            if nms_pre > 0:  # the best nms_pre (all on a small level, with no size test)
                score, order = score.topk(torch.sym_min(nms_pre, score.size(0)))
                delta, level_anchors = delta[order], level_anchors[order]
            scores_l.append(score)
            deltas_l.append(delta)
            anchors_l.append(level_anchors)
            ids_l.append(torch.full_like(score, lvl, dtype=torch.long))
        scores, ids = torch.cat(scores_l), torch.cat(ids_l)
        boxes = decode_deltas(rpn.bbox_coder, torch.cat(anchors_l), torch.cat(deltas_l), img_shape)
        min_size = cfg.get("min_bbox_size", -1)
        if min_size >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            keep = torch.nonzero((wh[:, 0] > min_size) & (wh[:, 1] > min_size)).squeeze(1)
            boxes, scores, ids = boxes[keep], scores[keep], ids[keep]
        iou_threshold, max_per_img = proposal_settings(cfg)
        return boxes[batched_nms(boxes, scores, ids, iou_threshold, max_per_img)]

    # ---------------------------------------------------------------- RoI heads
    def _heads(self, name: str) -> list[nn.Module]:
        return _as_list(getattr(self.model.roi_head, name))

    def _boxes(
        self, feats: Sequence[torch.Tensor], proposals: torch.Tensor, img_shape: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Box stages on ``proposals`` ``[P, 4]``: last stage's input RoIs ``[P, 4]``, the
        stage-mean logits ``[P, C+1]`` and the last stage's deltas."""
        boxes = proposals
        heads, extractors = self._heads("bbox_head"), self._heads("bbox_roi_extractor")
        stage_scores = []
        for stage, (head, extractor) in enumerate(zip(heads, extractors)):
            rois = torch.cat([boxes.new_zeros(boxes.size(0), 1), boxes], dim=1)
            cls_score, bbox_pred = head(extract_rois(extractor, feats, rois))
            cls_score, bbox_pred = cls_score.float(), bbox_pred.float()
            stage_scores.append(cls_score)
            if stage < len(heads) - 1:  # CascadeRoIHead: regress_by_class
                if not head.reg_class_agnostic:
                    label = cls_score[:, :-1].argmax(dim=1) * 4
                    inds = torch.stack((label, label + 1, label + 2, label + 3), 1)
                    bbox_pred = torch.gather(bbox_pred, 1, inds)
                boxes = decode_deltas(head.bbox_coder, boxes, bbox_pred, img_shape)
        mean_score = stage_scores[0]
        if len(stage_scores) > 1:
            mean_score = sum(stage_scores) / float(len(stage_scores))
        return boxes, mean_score, bbox_pred

    def _mask_probs(
        self, feats: Sequence[torch.Tensor], boxes: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Sigmoid mask probabilities ``[N, 1, m, m]`` of ``boxes`` (input pixels), averaged
        over the stages' mask heads."""
        rois = torch.cat([boxes.new_zeros(boxes.size(0), 1), boxes], dim=1)
        probs = [
            head(extract_rois(extractor, feats, rois), labels).float().sigmoid()
            for head, extractor in zip(self._heads("mask_head"), self._heads("mask_roi_extractor"))
        ]
        return probs[0] if len(probs) == 1 else torch.stack(probs).mean(dim=0)

    def forward(
        self, img: torch.Tensor, img_shape: torch.Tensor, scale_factor: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        model = self.model
        feats = model.extract_feat(img)
        proposals = self._proposals(feats, img_shape)
        rois, cls_score, bbox_pred = self._boxes(feats, proposals, img_shape)
        head = self._heads("bbox_head")[-1]
        scores = F.softmax(cls_score, dim=-1)
        boxes = decode_deltas(head.bbox_coder, rois, bbox_pred, img_shape)
        boxes = (boxes.reshape(boxes.size(0), -1, 4) / scale_factor).reshape(boxes.size(0), -1)
        cfg = model.roi_head.test_cfg
        nms_cfg = cfg["nms"]
        if nms_cfg.get("type", "nms") != "nms":
            raise ValueError(
                f"export: test_cfg.rcnn.nms type {nms_cfg.get('type')!r} cannot "
                "be exported; use 'nms'"
            )
        det_boxes, det_scores, det_labels = multiclass_nms(
            boxes, scores, cfg["score_thr"], nms_cfg["iou_threshold"], cfg["max_per_img"]
        )
        if not self.with_mask:
            return det_boxes, det_scores, det_labels
        mask_probs = self._mask_probs(feats, det_boxes * scale_factor, det_labels)
        return det_boxes, det_scores, det_labels, mask_probs
