"""``CascadeRoIHead`` (MMDetection v2): box stages of rising IoU thresholds, each refining the
boxes of the previous one, with one mask head per stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detkit.models.roi_heads.base_roi_head import RoIHeadBase
from detkit.registry import MODELS

__all__ = ["CascadeRoIHead"]


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
    and mask probabilities are averaged over the stages' mask heads (``RoIHeadBase``'s stage
    loop and ``predict``).
    """

    def __init__(
        self,
        num_stages: int,
        stage_loss_weights: Sequence[float],
        bbox_roi_extractor: Any = None,
        bbox_head: Any = None,
        mask_roi_extractor: Any = None,
        mask_head: Any = None,
        shared_head: Any = None,
        train_cfg: Any = None,
        test_cfg: Any = None,
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
            num_stages=num_stages,
            stage_loss_weights=stage_loss_weights,
        )
