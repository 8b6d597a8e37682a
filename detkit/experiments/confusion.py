"""A run's confusion matrix: its dumped config's ``data.val`` and its ``results.pkl``, counted
by :func:`detkit.analysis.calculate_confusion_matrix` (MMDetection v2's
``tools/analysis_tools/confusion_matrix.py`` counting; rows ground truth, columns predictions,
index C = background)."""

from __future__ import annotations

from typing import Any

import numpy as np

from detkit.io import read_pickle

__all__ = ["experiment_confusion"]


def experiment_confusion(
    experiment: Any, score_thr: float = 0.3, tp_iou_thr: float = 0.5
) -> tuple[np.ndarray, list[str]]:
    """(``[C + 1, C + 1]`` counts, class names + ``'background'``) of a run from its dumped
    config's ``data.val`` and its ``results.pkl``."""
    from detkit.analysis import calculate_confusion_matrix
    from detkit.config import Config
    from detkit.data import build_dataset

    if experiment.config is None or experiment.results is None:
        raise FileNotFoundError(
            f"{experiment.work_dir} needs a dumped config (*.py) and results.pkl "
            "for a confusion matrix"
        )
    cfg = Config.load(experiment.config)
    dataset = build_dataset(cfg.data.val, dict(test_mode=True))
    results = read_pickle(experiment.results)
    counts = calculate_confusion_matrix(
        dataset, results, score_thr=score_thr, tp_iou_thr=tp_iou_thr
    )
    return counts, [*dataset.CLASSES, "background"]
