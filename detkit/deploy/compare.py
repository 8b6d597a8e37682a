"""How far two detectors' results on the same image are apart (an exported graph against the
eager model): the figures the parity tests hold to (box |Δ| ≤ 1e-2 px, score |Δ| ≤ 1e-4,
mask IoU ≥ 0.99)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detkit.engine.inference import flatten_result

__all__ = ["compare_results"]


def compare_results(reference: Any, result: Any) -> dict[str, Any]:
    """Compare two MMDetection per-class results of one image.

    Returns:
        ``detections`` (both counts), ``same_labels`` (same count and the same label in each
        row), and when so ``box_max_abs_px``, ``score_max_abs`` and ``mask_iou_min`` (None
        without masks); ``same`` is True when all are within the tolerances above.
    """
    ref_boxes, ref_scores, ref_labels, ref_masks = flatten_result(reference)
    boxes, scores, labels, masks = flatten_result(result)
    same_labels = len(ref_labels) == len(labels) and bool(np.array_equal(ref_labels, labels))
    out: dict[str, Any] = {"detections": (len(ref_labels), len(labels)),
                           "same_labels": same_labels}
    if not same_labels:
        out["same"] = False
        return out
    empty = len(labels) == 0
    out["box_max_abs_px"] = 0.0 if empty else float(np.abs(ref_boxes - boxes).max())
    out["score_max_abs"] = 0.0 if empty else float(np.abs(ref_scores - scores).max())
    out["mask_iou_min"] = None
    if ref_masks is not None and masks is not None and not empty:
        inter = (ref_masks & masks).sum((1, 2))
        union = (ref_masks | masks).sum((1, 2))
        out["mask_iou_min"] = float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).min())
    out["same"] = (out["box_max_abs_px"] <= 1e-2 and out["score_max_abs"] <= 1e-4
                   and (out["mask_iou_min"] is None or out["mask_iou_min"] >= 0.99))
    return out
