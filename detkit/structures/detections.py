"""From a batch's flat detections to one ``DetectionResult`` per image: the one place that
puts boxes and RoI mask probabilities on the output canvas, for the eager detector and for an
exported graph's outputs alike.

Flat detections are an ``Instances`` over the batch with ``boxes`` ``[N, 4]`` (output pixels:
network-input pixels divided by ``ImageMeta.output_scale``), ``scores`` ``[N]``, ``labels``
``[N]``, ``image_index`` ``[N]`` and, for mask models, ``mask_probs`` ``[N, 1, m, m]`` (the
sigmoid probabilities of each detection's RoI, boxes × scale in network-input pixels).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from detkit.structures.image_meta import ImageMeta
from detkit.structures.instances import Instances
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import RoIMasks

__all__ = ["detection_results", "roi_masks"]


def roi_masks(
    probs: torch.Tensor, boxes: torch.Tensor, canvas: tuple[int, int], threshold: float
) -> RoIMasks:
    """``RoIMasks`` of probabilities ``[N, 1, m, m]`` pasted at ``boxes`` ``[N, 4]`` (canvas
    pixels) on a ``canvas`` ``(H, W)``; ``threshold`` is ``mask_thr_binary``. On CPU each mask
    is pasted inside its box's window only (MMDetection v2's CPU paste)."""
    return RoIMasks(
        probs, boxes, canvas[0], canvas[1], threshold, skip_empty=probs.device.type == "cpu"
    )


def detection_results(
    detections: Instances,
    metas: Sequence[ImageMeta],
    rescale: bool,
    mask_thr_binary: float,
) -> list[DetectionResult]:
    """Per image the rows of ``detections`` (in their order: by decreasing score), masks on
    ``ImageMeta.canvas_shape(rescale)``. A mask is pasted at its box × scale ÷ scale, the
    float rounding of the network-input box the mask was pooled from."""
    results = []
    for i, meta in enumerate(metas):
        rows = detections.for_image(i)
        masks = None
        if rows.has("mask_probs"):
            scale = rows.boxes.new_tensor(meta.output_scale(rescale))
            boxes = rows.boxes * scale / scale
            masks = roi_masks(rows.mask_probs, boxes, meta.canvas_shape(rescale), mask_thr_binary)
        results.append(DetectionResult(rows.boxes, rows.scores, rows.labels, masks))
    return results
