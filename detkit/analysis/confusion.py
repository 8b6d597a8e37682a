"""Confusion matrix of detections against ground truth (MMDetection v2
``tools/analysis_tools/confusion_matrix.py``).

The matrix is ``[C + 1, C + 1]``: row = ground-truth class, column = predicted class, index
``C`` = background. Per image and predicted class (optionally re-NMSed), every detection
scoring at least ``score_thr`` adds one to ``[gt_label, det_label]`` for **each** ground truth
it overlaps with IoU >= ``tp_iou_thr`` (so one detection may count several times), or to
``[C, det_label]`` (a background false positive) when it overlaps none; a ground truth that
no detection of its own class matched adds one to ``[gt_label, C]`` (a false negative).
Ground truths are the dataset's ``get_ann_info`` boxes (crowd boxes are ignored).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou, nms

from detkit.analysis.common import (
    bbox_results_of,
    load_results,
)
from detkit.config import Config
from detkit.engine.testing_setup import build_test_dataset

__all__ = [
    "analyze_per_img_dets",
    "calculate_confusion_matrix",
    "plot_confusion_matrix",
    "confusion_matrix",
]


def analyze_per_img_dets(
    confusion: np.ndarray,
    gt_bboxes: np.ndarray,
    gt_labels: np.ndarray,
    result: Sequence[np.ndarray],
    score_thr: float = 0.0,
    tp_iou_thr: float = 0.5,
    nms_iou_thr: float | None = None,
) -> None:
    """Add one image to ``confusion`` (``[C + 1, C + 1]``, changed in place).

    Args:
        gt_bboxes: ``[G, 4]`` xyxy, absolute pixels; gt_labels: ``[G]`` 0-based.
        result: C arrays ``[n_c, 5]`` (xyxy + score) of the image.
        nms_iou_thr: re-run NMS per class with this IoU first (detections below
            ``score_thr`` dropped before it).
    """
    gt = torch.as_tensor(np.asarray(gt_bboxes, np.float32).reshape(-1, 4))
    gt_labels = np.asarray(gt_labels, np.int64).reshape(-1)
    true_positives = np.zeros(len(gt_labels))
    background = confusion.shape[0] - 1
    for det_label, det_bboxes in enumerate(result):
        dets = torch.as_tensor(np.asarray(det_bboxes, np.float32).reshape(-1, 5))
        if nms_iou_thr:
            dets = dets[dets[:, 4] >= score_thr]
            dets = dets[nms(dets[:, :4], dets[:, 4], nms_iou_thr)]
        ious = box_iou(dets[:, :4], gt).numpy()
        for i, score in enumerate(dets[:, 4].tolist()):
            if score < score_thr:
                continue
            matched = np.flatnonzero(ious[i] >= tp_iou_thr)
            for j in matched:
                if gt_labels[j] == det_label:
                    true_positives[j] += 1
                confusion[gt_labels[j], det_label] += 1
            if len(matched) == 0:
                confusion[background, det_label] += 1
    for num_tp, gt_label in zip(true_positives, gt_labels):
        if num_tp == 0:
            confusion[gt_label, background] += 1


def calculate_confusion_matrix(
    dataset: Any,
    results: Sequence[Any],
    score_thr: float = 0.0,
    nms_iou_thr: float | None = None,
    tp_iou_thr: float = 0.5,
) -> np.ndarray:
    """``[C + 1, C + 1]`` counts (see the module docstring) over all images of ``dataset``.

    Args:
        dataset: a detection dataset (``CLASSES``, ``get_ann_info(i)``, ``len``).
        results: one MMDetection v2 result per image, in dataset order.

    Raises:
        ValueError: ``len(results) != len(dataset)``; TypeError: a result is not mmdet's.
    """
    if len(results) != len(dataset):
        raise ValueError(
            f"got {len(results)} results for the {len(dataset)} images of the dataset "
            f"{getattr(dataset, 'ann_file', '')}"
        )
    num_classes = len(dataset.CLASSES)
    confusion = np.zeros((num_classes + 1, num_classes + 1))
    for idx, result in enumerate(results):
        bbox_results = bbox_results_of(result, where=f"result {idx}")
        if len(bbox_results) != num_classes:
            raise ValueError(
                f"result {idx} has {len(bbox_results)} classes, the dataset {num_classes}"
            )
        ann = dataset.get_ann_info(idx)
        analyze_per_img_dets(
            confusion,
            ann["bboxes"],
            ann["labels"],
            bbox_results,
            score_thr,
            tp_iou_thr,
            nms_iou_thr,
        )
    return confusion


def plot_confusion_matrix(
    confusion: np.ndarray,
    labels: Sequence[str],
    save_dir: str | None = None,
    show: bool = True,
    title: str = "Normalized Confusion Matrix",
    color_theme: str = "plasma",
    ax: Any = None,
) -> np.ndarray:
    """Draw the row-normalised matrix in percent (each ground-truth row sums to 100; a row
    without any count shows -1%); saves ``<save_dir>/confusion_matrix.png``. With ``ax`` it
    draws into that Axes (e.g. one panel of a notebook figure) and leaves the figure open.

    Returns:
        The normalised ``[C + 1, C + 1]`` matrix in percent (NaN for empty rows).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MultipleLocator

    if len(labels) != len(confusion):
        raise ValueError(f"{len(labels)} labels for a {len(confusion)}x{len(confusion)} matrix")
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = confusion.astype(np.float32) / confusion.sum(axis=1, keepdims=True) * 100
    num = len(labels)
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(max(0.5 * num, 4), max(0.5 * num * 0.8, 3.2)), dpi=180)
    fig = ax.figure
    image = ax.imshow(percent, cmap=plt.get_cmap(color_theme))
    fig.colorbar(mappable=image, ax=ax)
    ax.set_title(title, fontdict={"weight": "bold", "size": 12})
    ax.set_ylabel("Ground Truth Label", fontdict={"size": 10})
    ax.set_xlabel("Prediction Label", fontdict={"size": 10})
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MultipleLocator(1))
        axis.set_minor_locator(MultipleLocator(0.5))
    ax.grid(True, which="minor", linestyle="-")
    ax.set_xticks(np.arange(num))
    ax.set_yticks(np.arange(num))
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)
    ax.tick_params(axis="x", bottom=False, top=True, labelbottom=False, labeltop=True)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="left", rotation_mode="anchor")
    for i in range(num):
        for j in range(num):
            value = -1 if np.isnan(percent[i, j]) else int(percent[i, j])
            ax.text(j, i, f"{value}%", ha="center", va="center", color="w", size=7)
    ax.set_ylim(num - 0.5, -0.5)
    if save_dir is not None:
        fig.tight_layout()
        os.makedirs(save_dir, exist_ok=True)
        fig.savefig(os.path.join(save_dir, "confusion_matrix.png"), format="png")
    if show:
        plt.show()
    if own_figure:
        plt.close(fig)
    return percent


def confusion_matrix(
    config: Any,
    prediction_path: str | list[Any],
    save_dir: str | None = None,
    show: bool = False,
    color_theme: str = "plasma",
    score_thr: float = 0.3,
    tp_iou_thr: float = 0.5,
    nms_iou_thr: float | None = None,
    cfg_options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """``confusion_matrix.py``: the counts of the results pickle ``prediction_path`` on
    ``cfg.data.test``, plotted (and saved to ``save_dir``); returns the ``[C + 1, C + 1]``
    counts (last row/column: background)."""
    cfg = Config.load(config, cfg_options)
    results = load_results(prediction_path)
    dataset = build_test_dataset(cfg)
    counts = calculate_confusion_matrix(dataset, results, score_thr, nms_iou_thr, tp_iou_thr)
    plot_confusion_matrix(
        counts,
        tuple(dataset.CLASSES) + ("background",),
        save_dir=save_dir,
        show=show,
        color_theme=color_theme,
    )
    return counts
