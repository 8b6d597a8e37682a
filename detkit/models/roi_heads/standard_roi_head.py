"""``StandardRoIHead`` (Mask / Faster R-CNN): one box stage and an optional mask head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.models.roi_heads.base_roi_head import RoIHeadBase
from detkit.registry import MODELS

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

    Training returns ``loss_cls``, ``acc``, ``loss_bbox`` (and ``loss_mask``); training and
    inference are ``RoIHeadBase``'s with a single stage.
    """

    def __init__(
        self,
        bbox_roi_extractor: Mapping[str, Any] | None = None,
        bbox_head: Mapping[str, Any] | None = None,
        mask_roi_extractor: Mapping[str, Any] | None = None,
        mask_head: Mapping[str, Any] | None = None,
        shared_head: Mapping[str, Any] | None = None,
        train_cfg: Mapping[str, Any] | None = None,
        test_cfg: Mapping[str, Any] | None = None,
        pretrained: str | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(
            bbox_roi_extractor,
            bbox_head,
            mask_roi_extractor,
            mask_head,
            shared_head,
            train_cfg,
            test_cfg,
        )
