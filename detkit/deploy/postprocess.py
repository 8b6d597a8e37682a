"""The steps around an exported detector graph, shared by every runtime: the graph's three
inputs from a batch's metas (``BatchGeometry``, as the eager detector makes them), and one
``DetectionResult`` per image from its flat outputs (the eager detector's
:func:`~detkit.structures.detections.detection_results`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from detkit.structures.detections import detection_results
from detkit.structures.image_meta import BatchGeometry, image_metas
from detkit.structures.instances import Instances
from detkit.structures.results import DetectionResult

__all__ = ["graph_inputs", "to_results"]

_FIELDS = ("boxes", "scores", "labels", "image_index", "mask_probs")


def graph_inputs(
    img: torch.Tensor, metas: Sequence[Mapping[str, Any]], rescale: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``img`` ``[B, 3, H, W]`` (normalised, padded), ``img_shape`` float32 ``[B, 2]`` (h, w
    before padding) and ``scale_factor`` float32 ``[B, 4]`` (ones without ``rescale``)."""
    geometry = BatchGeometry.of(image_metas(metas), rescale)
    return (
        np.ascontiguousarray(img.detach().cpu().float().numpy()),
        geometry.img_shape.numpy(),
        geometry.scale_factor.numpy(),
    )


def to_results(
    outputs: Sequence[Any],
    metas: Sequence[Mapping[str, Any]],
    rescale: bool,
    mask_thr_binary: float = 0.5,
) -> list[DetectionResult]:
    """Per image ``DetectionResult`` of the graph's ``boxes``, ``scores``, ``labels``,
    ``image_index`` (and ``mask_probs`` ``[N, 1, m, m]``), masks pasted as the eager
    detector pastes them."""
    fields: dict[str, Any] = {
        name: torch.as_tensor(np.asarray(value)) for name, value in zip(_FIELDS, outputs)
    }
    fields["boxes"], fields["scores"] = fields["boxes"].float(), fields["scores"].float()
    fields["labels"], fields["image_index"] = fields["labels"].long(), fields["image_index"].long()
    return detection_results(Instances(**fields), image_metas(metas), rescale, mask_thr_binary)
