"""How far two detectors' results on the same image are apart (an exported graph against the
eager model): the figures the parity tests hold to (box |Δ| ≤ 1e-2 px, score |Δ| ≤ 1e-4,
mask IoU ≥ 0.99)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detkit.structures.results import DetectionResult

__all__ = ["compare_results"]


def _arrays(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """boxes ``[N, 4]``, scores ``[N]``, labels ``[N]``, masks ``[N, H, W]`` (or None) of an
    MMDetection per-class result or a ``DetectionResult``, in class order."""
    typed = result if isinstance(result, DetectionResult) else DetectionResult.from_mmdet(result)
    dense = typed.dense_masks()
    masks = None if dense is None else dense.cpu().numpy().astype(bool)
    return typed.boxes.numpy(), typed.scores.numpy(), typed.labels.numpy(), masks


def _match(
    ref_boxes: np.ndarray, ref_labels: np.ndarray, boxes: np.ndarray, labels: np.ndarray
) -> list[int] | None:
    """For each row of ``boxes``, the unmatched reference row of the same label with the
    nearest box (rows of near-equal scores may come in either order); None if one lacks a
    partner."""
    free = np.ones(len(ref_labels), bool)
    pairs = []
    for box, label in zip(boxes, labels):
        candidates = np.flatnonzero(free & (ref_labels == label))
        if len(candidates) == 0:
            return None
        best = candidates[np.abs(ref_boxes[candidates] - box).max(1).argmin()]
        free[best] = False
        pairs.append(int(best))
    return pairs


def compare_results(reference: Any, result: Any) -> dict[str, Any]:
    """Compare two MMDetection per-class results of one image, detection by detection (each
    paired with the reference detection of its class with the nearest box).

    Returns:
        ``detections`` (both counts), ``same_labels`` (each detection has a reference
        partner of its class), and when so ``box_max_abs_px``, ``score_max_abs`` and
        ``mask_iou_min`` (None without masks) over the pairs; ``same`` is True when all are
        within the tolerances above.
    """
    ref_boxes, ref_scores, ref_labels, ref_masks = _arrays(reference)
    boxes, scores, labels, masks = _arrays(result)
    pairs = _match(ref_boxes, ref_labels, boxes, labels) if len(labels) == len(ref_labels) else None
    out: dict[str, Any] = {
        "detections": (len(ref_labels), len(labels)),
        "same_labels": pairs is not None,
    }
    if pairs is None:
        out["same"] = False
        return out
    empty = len(labels) == 0
    out["box_max_abs_px"] = 0.0 if empty else float(np.abs(ref_boxes[pairs] - boxes).max())
    out["score_max_abs"] = 0.0 if empty else float(np.abs(ref_scores[pairs] - scores).max())
    out["mask_iou_min"] = None
    if ref_masks is not None and masks is not None and not empty:
        ref_masks = ref_masks[pairs]
        inter = (ref_masks & masks).sum((1, 2))
        union = (ref_masks | masks).sum((1, 2))
        out["mask_iou_min"] = float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).min())
    out["same"] = (
        out["box_max_abs_px"] <= 1e-2
        and out["score_max_abs"] <= 1e-4
        and (out["mask_iou_min"] is None or out["mask_iou_min"] >= 0.99)
    )
    return out
