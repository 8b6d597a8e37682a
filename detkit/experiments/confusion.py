"""Per-class confusion matrices from a results pickle (MMDetection v2's
``tools/analysis_tools/confusion_matrix.py`` counting).

For every image, each detection with score >= ``score_thr`` counts once per ground-truth box
it overlaps with IoU >= ``tp_iou_thr``, in the row of that box's class and the column of the
detection's class; a detection overlapping no box counts in the last row (background); a box
that no detection of its own class matched counts in the last column. The matrix is
``[C + 1, C + 1]`` (rows: ground truth, columns: prediction, index C = background).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = ["confusion_matrix", "experiment_confusion", "plot_confusion_matrix"]


def confusion_matrix(dataset: Any, results: Sequence[Any], score_thr: float = 0.3, tp_iou_thr: float = 0.5) -> np.ndarray:
    """``[C + 1, C + 1]`` counts for ``results`` (per image: per-class ``[n, 5]`` xyxy+score
    arrays, or ``(bbox_results, segm_results)``) against ``dataset.get_ann_info(i)``."""
    num_classes = len(dataset.CLASSES)
    if len(results) != len(dataset):
        raise ValueError(f"{len(results)} results for a dataset of {len(dataset)} images")
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for index, result in enumerate(results):
        bbox_results = result[0] if isinstance(result, tuple) else result
        ann = dataset.get_ann_info(index)
        gt_boxes = torch.as_tensor(np.asarray(ann["bboxes"], dtype=np.float32).reshape(-1, 4))
        gt_labels = np.asarray(ann["labels"], dtype=np.int64)
        matched = np.zeros(len(gt_labels), dtype=bool)
        for label, dets in enumerate(bbox_results):
            dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
            dets = dets[dets[:, 4] >= score_thr]
            if len(dets) == 0:
                continue
            if len(gt_labels) == 0:
                matrix[num_classes, label] += len(dets)
                continue
            ious = box_iou(torch.as_tensor(dets[:, :4]), gt_boxes).numpy() >= tp_iou_thr
            for overlaps in ious:
                for gt in np.flatnonzero(overlaps):
                    matrix[gt_labels[gt], label] += 1
                    matched[gt] |= gt_labels[gt] == label
                if not overlaps.any():
                    matrix[num_classes, label] += 1
        for gt_label in gt_labels[~matched]:
            matrix[gt_label, num_classes] += 1
    return matrix


def experiment_confusion(experiment: Any, score_thr: float = 0.3, tp_iou_thr: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """(matrix, class names + ``'background'``) of a run from its dumped config's
    ``data.val`` and its ``results.pkl``."""
    from detkit.config import Config
    from detkit.data import build_dataset

    if experiment.config is None or experiment.results is None:
        raise FileNotFoundError(f"{experiment.work_dir} needs a dumped config (*.py) and results.pkl for a confusion matrix")
    cfg = Config.fromfile(experiment.config)
    dataset = build_dataset(cfg.data.val, dict(test_mode=True))
    with open(experiment.results, "rb") as file:
        results = pickle.load(file)
    return confusion_matrix(dataset, results, score_thr, tp_iou_thr), [*dataset.CLASSES, "background"]


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], ax: Any = None, normalize: bool = True,
                          title: str | None = None) -> Any:
    """Draw ``matrix`` (rows normalised to percentages with ``normalize``); the Axes."""
    import matplotlib.pyplot as plt

    values = matrix.astype(np.float64)
    if normalize:
        values = 100 * values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * len(labels) + 2, 0.6 * len(labels) + 1.5))
    ax.imshow(values, cmap="Blues", vmin=0, vmax=100 if normalize else None)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(len(labels)), labels, fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    for (row, col), value in np.ndenumerate(values):
        if value:
            ax.text(col, row, f"{value:.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if value > (50 if normalize else values.max() / 2) else "black")
    if title:
        ax.set_title(title)
    return ax
