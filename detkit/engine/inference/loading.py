"""Loading a model for inference: ``init_detector`` (MMDetection v2 ``mmdet.apis``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from detkit.config import Config

__all__ = ["init_detector"]


def _dataset_classes(cfg: Any) -> tuple[str, ...] | None:
    """CLASSES of ``cfg.data.test`` (its ``classes`` override, or its dataset class's)."""
    from detkit.registry import DATASETS

    test_cfg = cfg.get("data", {}).get("test")
    if not test_cfg:
        return None
    if test_cfg.get("classes"):
        return tuple(test_cfg["classes"])
    classes = getattr(DATASETS.get(test_cfg.get("type", "")), "CLASSES", None)
    return tuple(classes) if classes else None


def init_detector(
    config: Any,
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    cfg_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Build a detector for inference from a config and (optionally) a checkpoint.

    The backbone's ``init_cfg``/``pretrained`` is cleared (nothing is downloaded) and
    ``train_cfg`` dropped. ``model.CLASSES`` comes from the checkpoint's ``meta`` when
    present, else from the test dataset of the config; ``model.cfg`` keeps the config.

    Args:
        config: config file path or ``Config`` (prepared by :meth:`detkit.Config.load`).
        checkpoint: checkpoint path/URL, or None for random weights.
        device: where the model runs (``'cpu'``, ``'cuda:0'``).
        cfg_options: overrides merged into the config (``{'model.test_cfg.rcnn.score_thr': 0.3}``).

    Returns:
        The model in eval mode on ``device``.
    """
    from detkit.checkpoint import load_checkpoint
    from detkit.models import build_detector

    cfg = Config.load(config, cfg_options)
    cfg.model.pretrained = None
    if "backbone" in cfg.model:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    # a detector: the MMDetection attributes (CLASSES, cfg) are set on it
    model: Any = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    classes = None
    if checkpoint is not None:
        meta = load_checkpoint(model, checkpoint, map_location="cpu").get("meta", {})
        classes = meta.get("CLASSES")
        num_classes = max(
            (getattr(m, "num_classes", 0) for m in model.modules()),
            key=lambda n: n if isinstance(n, int) else 0,
            default=0,
        )
        if classes and len(classes) < num_classes:
            raise ValueError(
                f"checkpoint {checkpoint}: its meta CLASSES has {len(classes)} names "
                f"{tuple(classes)} but "
                f"the model predicts {num_classes} classes (num_classes in the config); use the "
                "config the checkpoint was trained with"
            )
    model.CLASSES = tuple(classes) if classes else _dataset_classes(cfg)
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model
