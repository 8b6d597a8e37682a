"""Two-stage detectors: ``FasterRCNN``, ``MaskRCNN``, ``CascadeRCNN`` (MMDetection v2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch

from detkit.models.detectors.base import BaseDetector
from detkit.models.layers import apply_init_cfg
from detkit.models.roi_heads.aug_merge import merge_aug_proposals
from detkit.registry import MODELS, build
from detkit.structures.detections import detection_results
from detkit.structures.image_meta import BatchGeometry, ImageMeta, image_metas
from detkit.structures.instances import Instances
from detkit.structures.mmdet_boundary import proposals_from_mmdet
from detkit.structures.results import DetectionResult

if TYPE_CHECKING:
    from detkit.models.dense_heads.rpn_head import RPNHead
    from detkit.models.roi_heads.base_roi_head import RoIHeadBase

__all__ = ["TwoStageDetector", "FasterRCNN", "MaskRCNN", "CascadeRCNN"]


def _sub_cfg(cfg: Mapping[str, Any] | None, key: str) -> Any:
    return None if cfg is None else cfg.get(key)


def _pretrained_source(init_cfg: Any) -> str | None:
    if isinstance(init_cfg, Mapping) and init_cfg.get("type") == "Pretrained":
        if "checkpoint" not in init_cfg:
            raise KeyError(f"init_cfg {dict(init_cfg)!r} of type Pretrained needs 'checkpoint'")
        checkpoint: str | None = init_cfg["checkpoint"]
        return checkpoint
    return None


def _build_neck(neck: Any) -> torch.nn.Module | None:
    """A neck config, or a list of them applied in turn (mmcv builds a list as
    ``nn.Sequential``: keys ``neck.0.*``, ``neck.1.*``, as Libra R-CNN's FPN + BFP)."""
    if neck is None:
        return None
    if isinstance(neck, (list, tuple)):
        if not neck:
            raise ValueError("model.neck is an empty list; give a neck config or leave it out")
        return torch.nn.Sequential(
            *(build(cfg, MODELS, key_path=f"model.neck.{i}") for i, cfg in enumerate(neck))
        )
    built: torch.nn.Module = build(neck, MODELS)
    return built


@MODELS.register_module()
class TwoStageDetector(BaseDetector):
    """Backbone → neck → RPN → RoI head.

    Args:
        backbone, neck, rpn_head, roi_head: component configs (or built modules); ``neck``
            may be a list of configs applied in turn.
        train_cfg: ``rpn``, ``rpn_proposal``, ``rcnn`` (None at test time).
        test_cfg: ``rpn``, ``rcnn``.
        pretrained: v2 key: the backbone's pretrained checkpoint.
        init_cfg: ``Pretrained`` checkpoint of the whole detector (loaded by
            ``init_weights``), or None.
        channels_last, compile: see :class:`BaseDetector`.

    Inputs: ``img`` float ``[B, 3, H, W]`` (normalised, padded), ``img_metas`` list of dicts
    with ``img_shape``, ``ori_shape``, ``pad_shape``, ``scale_factor``, ``flip``; training
    targets ``gt_bboxes`` (float32 ``[N_i, 4]`` xyxy input pixels), ``gt_labels`` (int64
    ``[N_i]``), ``gt_masks`` (``BitmapMasks`` or ``[N_i, H, W]`` tensors at pad size). Inside,
    :meth:`loss` and :meth:`detect` read ``ImageMeta``/``BatchGeometry`` and ``Instances``.
    """

    exportable: ClassVar[bool] = True
    rpn_head: RPNHead
    roi_head: RoIHeadBase

    def __init__(
        self,
        backbone: Any,
        neck: Any = None,
        rpn_head: Any = None,
        roi_head: Any = None,
        train_cfg: Mapping[str, Any] | None = None,
        test_cfg: Mapping[str, Any] | None = None,
        pretrained: str | None = None,
        init_cfg: Any = None,
        channels_last: bool = False,
        compile: bool | Mapping[str, Any] | None = None,
    ) -> None:  # noqa: A002
        super().__init__(channels_last=channels_last, compile=compile)
        if pretrained is not None and isinstance(backbone, Mapping):
            backbone = {**backbone, "pretrained": pretrained, "init_cfg": None}
        self.backbone = build(backbone, MODELS)
        self.neck = _build_neck(neck)
        if rpn_head is None or roi_head is None:
            raise ValueError("detkit's two-stage detectors need both rpn_head and roi_head")
        if isinstance(rpn_head, Mapping):
            rpn_head = {
                **rpn_head,
                "train_cfg": _sub_cfg(train_cfg, "rpn"),
                "test_cfg": _sub_cfg(test_cfg, "rpn"),
            }
        self.rpn_head = build(rpn_head, MODELS)
        if isinstance(roi_head, Mapping):
            roi_head = {
                **roi_head,
                "train_cfg": _sub_cfg(train_cfg, "rcnn"),
                "test_cfg": _sub_cfg(test_cfg, "rcnn"),
            }
        self.roi_head = build(roi_head, MODELS)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.init_cfg = init_cfg
        self.apply_memory_format()

    @property
    def num_classes(self) -> int:
        head = self.roi_head.bbox_head
        return cast(int, (head[-1] if isinstance(head, torch.nn.ModuleList) else head).num_classes)

    @property
    def with_mask(self) -> bool:
        return bool(getattr(self.roi_head, "with_mask", False))

    def init_weights(self, logger: Any = None) -> None:
        """Re-initialise every component as mmdet does, then load ``Pretrained`` sources
        (the backbone's ``init_cfg``/``pretrained``, or the detector's ``init_cfg``)."""
        necks = list(self.neck) if isinstance(self.neck, torch.nn.Sequential) else [self.neck]
        for module in (self.backbone, *necks, self.rpn_head, self.roi_head):
            if module is not None and hasattr(module, "init_weights"):
                module.init_weights()
        if self.init_cfg is not None and _pretrained_source(self.init_cfg) is None:
            apply_init_cfg(self, self.init_cfg)
        from detkit.checkpoint import load_checkpoint, load_state_dict, read_checkpoint

        backbone_source = _pretrained_source(getattr(self.backbone, "init_cfg", None))
        if backbone_source is not None and hasattr(self.backbone, "pretrained_state_dict"):
            # backbones whose mmdet init_weights converts the checkpoint (e.g. Swin's keys)
            backbone: Any = self.backbone  # checked above: it has pretrained_state_dict
            weights = backbone.pretrained_state_dict(read_checkpoint(backbone_source))
            load_state_dict(self.backbone, weights, logger=logger, source=backbone_source)
        elif backbone_source is not None:
            load_checkpoint(self.backbone, backbone_source, map_location="cpu", logger=logger)
        model_source = _pretrained_source(self.init_cfg)
        if model_source is not None:
            load_checkpoint(self, model_source, map_location="cpu", logger=logger)
        self.apply_memory_format()

    def loss(
        self,
        img: torch.Tensor,
        metas: Sequence[ImageMeta],
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
        proposals: Instances | None = None,
    ) -> dict[str, Any]:
        """Loss dict: ``loss_rpn_cls``/``loss_rpn_bbox`` (lists over levels, without given
        ``proposals``) and the RoI head's losses, of ``img`` ``[B, 3, H, W]`` against each
        image's ``gt`` (``boxes``, ``labels``, ``masks``)."""
        if self.train_cfg is None:
            raise ValueError("forward_train needs model.train_cfg")
        x = self.extract_feat(img)
        losses: dict[str, Any] = {}
        if proposals is None:
            proposal_cfg = self.train_cfg.get("rpn_proposal", _sub_cfg(self.test_cfg, "rpn"))
            rpn_losses, proposals = self.rpn_head.loss_and_predict(
                x, metas, gt, ignored, proposal_cfg
            )
            losses.update(rpn_losses)
        losses.update(self.roi_head.loss(self.roi_features(x), proposals, metas, gt, ignored))
        return losses

    def detect(
        self, img: torch.Tensor, geometry: BatchGeometry, proposals: Instances | None = None
    ) -> Instances:
        """Detections of a batch ``img`` ``[B, 3, H, W]``, flat (see
        :mod:`detkit.structures.detections`): boxes divided by ``geometry.scale_factor``.
        Tensor-only: this is what ``detkit.export`` traces (``torch.export``, any batch size
        and image size), and what :meth:`predict` runs eagerly."""
        x = self.extract_feat(img)
        if proposals is None:
            proposals = self.rpn_head.predict(x, geometry.img_shape)
        return self.roi_head.predict(self.roi_features(x), proposals, geometry)

    def predict(
        self,
        img: torch.Tensor,
        img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        proposals: Sequence[torch.Tensor] | None = None,
        rescale: bool = False,
    ) -> list[DetectionResult]:
        """Typed detections per image (boxes in original pixels when ``rescale``; masks on
        ``ImageMeta.canvas_shape``); ``proposals``: per image ``[N, 4|5]`` instead of the
        RPN's."""
        metas = image_metas(img_metas)
        geometry = BatchGeometry.of(metas, rescale, img.device)
        given = None if proposals is None else proposals_from_mmdet(proposals)
        detections = self.detect(img, geometry, given)
        return detection_results(detections, metas, rescale, self.mask_thr_binary)

    def predict_aug(
        self,
        imgs: Sequence[torch.Tensor],
        img_metas: Sequence[Sequence[ImageMeta | Mapping[str, Any]]],
        rescale: bool = False,
    ) -> list[DetectionResult]:
        """Test-time augmentation of one image (``imgs``: its views ``[1, 3, H_v, W_v]``):
        proposals merged over views, detections merged as mmdet's ``aug_test``."""
        metas = [ImageMeta.of(view[0]) for view in img_metas]
        feats = self.extract_feats(imgs)
        aug_proposals = [
            self.rpn_head.predict(x, BatchGeometry.of([m], False, img.device).img_shape)
            for x, m, img in zip(feats, metas, imgs)
        ]
        # rpn_head.predict above raised if it has no test_cfg
        rpn_cfg = cast(Mapping[str, Any], self.rpn_head.test_cfg)
        merged = merge_aug_proposals(aug_proposals, metas, rpn_cfg)
        return self.roi_head.predict_aug(
            [self.roi_features(x) for x in feats], merged, metas, rescale=rescale
        )

    @property
    def mask_thr_binary(self) -> float:
        """``test_cfg.rcnn.mask_thr_binary`` (masks ``>=`` it are foreground; < 0: soft)."""
        return float(self.roi_head.test_cfg["mask_thr_binary"]) if self.with_mask else 0.5


@MODELS.register_module()
class FasterRCNN(TwoStageDetector):
    """Faster R-CNN (``StandardRoIHead`` without mask head)."""


@MODELS.register_module()
class MaskRCNN(TwoStageDetector):
    """Mask R-CNN (``StandardRoIHead`` with ``FCNMaskHead``)."""


@MODELS.register_module()
class CascadeRCNN(TwoStageDetector):
    """Cascade (Mask) R-CNN (``CascadeRoIHead``)."""
