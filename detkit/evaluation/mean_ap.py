"""PASCAL-VOC-style mean AP over a few images (MMDetection v2 ``mmdet.core.evaluation.eval_map``
without area ranges): per class, detections of all images are matched greedily by score to
ground truth (IoU >= ``iou_thr``, each ground truth once, ignored ones neither TP nor FP), and
AP is the area under the interpolated precision/recall curve (``'area'``) or the VOC07
11-point mean (``'11points'``). The mean is over classes with ground truth (0 when none has).

Boxes are xyxy in absolute pixels; IoU uses ``x2 - x1`` widths (no legacy +1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = ["average_precision", "tpfp_default", "eval_map"]


def average_precision(recalls: np.ndarray, precisions: np.ndarray, mode: str = "area") -> float:
    """AP of one precision/recall curve (``[n]`` each, detections sorted by score)."""
    if mode == "area":
        mrec = np.concatenate([[0.0], recalls, [1.0]])
        mpre = np.concatenate([[0.0], precisions, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        steps = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
    if mode == "11points":
        ap = 0.0
        for thr in np.arange(0, 1 + 1e-3, 0.1):
            above = precisions[recalls >= thr]
            ap += above.max() if above.size else 0.0
        return float(ap / 11)
    raise ValueError(f"mode must be 'area' or '11points', got {mode!r}")


def tpfp_default(
    det_bboxes: np.ndarray,
    gt_bboxes: np.ndarray,
    gt_bboxes_ignore: np.ndarray,
    iou_thr: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """TP / FP flags ``([n], [n])`` of one image's detections ``[n, 5]`` (in the given order)
    against ``[G, 4]`` ground truth plus ``[I, 4]`` ignored boxes."""
    gts = np.concatenate([gt_bboxes, gt_bboxes_ignore]).astype(np.float32)
    ignored = np.concatenate([np.zeros(len(gt_bboxes), bool), np.ones(len(gt_bboxes_ignore), bool)])
    tp = np.zeros(len(det_bboxes), np.float32)
    fp = np.zeros(len(det_bboxes), np.float32)
    if len(gts) == 0:
        fp[:] = 1
        return tp, fp
    ious = box_iou(
        torch.as_tensor(det_bboxes[:, :4], dtype=torch.float32), torch.as_tensor(gts)
    ).numpy()
    best_iou, best_gt = ious.max(axis=1), ious.argmax(axis=1)
    covered = np.zeros(len(gts), bool)
    for i in np.argsort(-det_bboxes[:, 4], kind="stable"):
        if best_iou[i] >= iou_thr:
            matched = best_gt[i]
            if ignored[matched]:
                continue
            if not covered[matched]:
                covered[matched] = True
                tp[i] = 1
            else:
                fp[i] = 1
        else:
            fp[i] = 1
    return tp, fp


def eval_map(
    det_results: Sequence[Sequence[np.ndarray]],
    annotations: Sequence[Mapping[str, Any]],
    iou_thr: float = 0.5,
    mode: str = "area",
) -> tuple[float, list[dict[str, Any]]]:
    """Mean AP of ``det_results`` (per image: C arrays ``[n_c, 5]``) against ``annotations``
    (per image: ``bboxes [G, 4]``, ``labels [G]``, optional ``bboxes_ignore`` with
    ``labels_ignore``; ignored boxes count only when both are given, as in mmdet).

    Returns:
        ``(mean_ap, per-class [{num_gts, num_dets, recall, precision, ap}])``.
    """
    if len(det_results) != len(annotations):
        raise ValueError(f"{len(det_results)} detection results but {len(annotations)} annotations")
    num_classes = len(det_results[0]) if det_results else 0
    per_class = []
    for label in range(num_classes):
        tps, fps, scores, num_gts = [], [], [], 0
        for image_dets, ann in zip(det_results, annotations):
            dets = np.asarray(image_dets[label], np.float32).reshape(-1, 5)
            labels = np.asarray(ann["labels"]).reshape(-1)
            gt = np.asarray(ann["bboxes"], np.float32).reshape(-1, 4)[labels == label]
            ignore = np.zeros((0, 4), np.float32)
            if ann.get("labels_ignore") is not None:
                keep = np.asarray(ann["labels_ignore"]).reshape(-1) == label
                ignore = np.asarray(ann["bboxes_ignore"], np.float32).reshape(-1, 4)[keep]
            tp, fp = tpfp_default(dets, gt, ignore, iou_thr)
            tps.append(tp)
            fps.append(fp)
            scores.append(dets[:, 4])
            num_gts += len(gt)
        order = np.argsort(-np.concatenate(scores), kind="stable")
        tp = np.cumsum(np.concatenate(tps)[order])
        fp = np.cumsum(np.concatenate(fps)[order])
        eps = np.finfo(np.float32).eps
        recall = tp / max(num_gts, eps)
        precision = tp / np.maximum(tp + fp, eps)
        per_class.append(
            dict(
                num_gts=num_gts,
                num_dets=len(order),
                recall=recall,
                precision=precision,
                ap=average_precision(recall, precision, mode),
            )
        )
    aps = [c["ap"] for c in per_class if c["num_gts"] > 0]
    return (float(np.mean(aps)) if aps else 0.0), per_class
