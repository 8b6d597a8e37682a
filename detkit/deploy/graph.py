"""``DeployableDetector``: a trained two-stage detector as one tensor-in, tensor-out module
that ``torch.export`` traces and ONNX stores. It is an adapter: the graph is the eager
detector's own tensor-only inference (``TwoStageDetector.detect``: RPN, box stages, decoding,
NMS and mask heads as the model runs them), nothing is restated here.

Inputs (a batch of ``B`` images, ``B`` dynamic): ``img`` float32 ``[B, 3, H, W]``
(normalised and padded by the config's test pipeline), ``img_shape`` float32 ``[B, 2]``
(h, w before padding: boxes are clipped to it) and ``scale_factor`` float32 ``[B, 4]``
(w, h, w, h: boxes are divided by it). Outputs, flat over the batch: ``boxes`` ``[N, 4]``
xyxy (``÷ scale_factor``), ``scores`` ``[N]`` (each image's by decreasing score), ``labels``
int64 ``[N]``, ``image_index`` int64 ``[N]`` and, for mask models, ``mask_probs``
``[N, 1, m, m]`` (sigmoid, averaged over cascade stages). Pasting masks onto the image is
:func:`detkit.structures.detections.detection_results`, as for the eager detector.

Which modules can be exported is what they declare: a class attribute ``exportable = True``
(the built-in detector, RPN, RoI heads, box/mask heads and RoI extractors set it, so users'
subclasses of them inherit it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn

from detkit.structures.image_meta import BatchGeometry

__all__ = ["DeployableDetector", "check_exportable"]

_ROI_PARTS = ("bbox_roi_extractor", "bbox_head", "mask_roi_extractor", "mask_head")


def _parts(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(role, module)`` of every part that runs at test time."""
    yield "detector", model
    for name in ("rpn_head", "roi_head"):
        if getattr(model, name, None) is None:
            raise TypeError(
                f"export: {type(model).__name__} has no {name}; only two-stage "
                "detectors (Faster/Mask/Cascade R-CNN) can be exported"
            )
        yield name, getattr(model, name)
    for name in _ROI_PARTS:
        module = getattr(model.roi_head, name, None)
        if module is None:
            continue
        for part in module if isinstance(module, nn.ModuleList) else [module]:
            yield name, part


def check_exportable(model: nn.Module) -> None:
    """Raise ``TypeError`` naming the first part of ``model`` that does not declare itself
    ``exportable`` (its inference is not tensor-only)."""
    for role, module in _parts(model):
        if not getattr(type(module), "exportable", False):
            kind = type(module)
            raise TypeError(
                f"export: {role} {kind.__name__} ({kind.__module__}) cannot be exported: "
                "it does not declare exportable = True (tensor-only inference)"
            )
    detector: Any = model  # _parts checked: it has rpn_head and roi_head
    if detector.roi_head.test_cfg is None or detector.rpn_head.test_cfg is None:
        raise ValueError("export: the model needs test_cfg.rpn and test_cfg.rcnn")


class DeployableDetector(nn.Module):
    """Export view of a two-stage detector in eval mode (shares its modules)."""

    model: Any  # the detector, with ``detect`` (see check_exportable)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        self.with_mask = bool(model.with_mask)

    def forward(
        self, img: torch.Tensor, img_shape: torch.Tensor, scale_factor: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        detections = self.model.detect(img, BatchGeometry(img_shape, scale_factor))
        outputs = (detections.boxes, detections.scores, detections.labels, detections.image_index)
        return outputs + ((detections.mask_probs,) if self.with_mask else ())
