"""The steps around an exported detector graph, shared by every runtime: the graph's three
inputs from an image's meta, and ``DetectionResult`` from its outputs (masks pasted onto the
image as the eager model pastes them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from detkit.models.roi_heads.predict import canvas_shape
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import RoIMasks

__all__ = ["graph_inputs", "to_result"]


def _scale(meta: Mapping[str, Any], rescale: bool) -> np.ndarray:
    if not rescale:
        return np.ones(4, np.float32)
    scale = np.asarray(meta["scale_factor"], np.float32).reshape(-1)
    return np.repeat(scale, 4) if scale.size == 1 else scale.reshape(4)


def graph_inputs(
    img: torch.Tensor, meta: Mapping[str, Any], rescale: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``img`` ``[1, 3, H, W]`` (normalised, padded), ``img_shape`` float32 ``[2]`` (h, w
    before padding) and ``scale_factor`` float32 ``[4]`` (ones without ``rescale``)."""
    img_shape = np.asarray(meta["img_shape"][:2], np.float32)
    return (
        np.ascontiguousarray(img.detach().cpu().float().numpy()),
        img_shape,
        _scale(meta, rescale),
    )


def to_result(
    outputs: Sequence[Any], meta: Mapping[str, Any], rescale: bool, mask_thr_binary: float = 0.5
) -> DetectionResult:
    """``DetectionResult`` from the graph's ``boxes``, ``scores``, ``labels`` (and
    ``mask_probs`` ``[N, 1, m, m]``): ``RoIMasks`` on ``ori_shape`` with ``rescale``, else on
    the resized image, pasted on request as ``FCNMaskHead.get_roi_masks`` gives them on CPU."""
    boxes, scores, labels = (torch.as_tensor(np.asarray(o)) for o in outputs[:3])
    masks = None
    if len(outputs) > 3:
        probs = torch.as_tensor(np.asarray(outputs[3]))
        height, width = canvas_shape(meta, rescale)
        scale = torch.from_numpy(_scale(meta, rescale))
        # the eager head pastes (boxes × scale) ÷ scale: the same float rounding here
        masks = RoIMasks(
            probs, boxes * scale / scale, height, width, mask_thr_binary, skip_empty=True
        )
    return DetectionResult(boxes.float(), scores.float(), labels.long(), masks)
