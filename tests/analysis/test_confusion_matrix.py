"""confusion_matrix: v2's counting (incl. the background row/column), the plot and the CLI."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from analysis_helpers import REPO, gt_results, load_tool
from PIL import Image

import detkit

BG = 8  # background index for the 8 Cityscapes classes


def test_ground_truth_as_detections_gives_the_diagonal(val_dataset):
    counts = detkit.analysis.calculate_confusion_matrix(val_dataset, gt_results(val_dataset))
    labels = np.concatenate(
        [val_dataset.get_ann_info(i)["labels"] for i in range(len(val_dataset))]
    )
    np.testing.assert_array_equal(np.diag(counts)[:BG], np.bincount(labels, minlength=8))
    assert counts.sum() == len(labels)


def test_confusion_background_and_thresholds(val_dataset):
    results = gt_results(val_dataset)
    ann = val_dataset.get_ann_info(0)  # person, car, truck
    person = ann["bboxes"][ann["labels"] == 0][0]
    image0 = [r.copy() for r in results[0]]
    image0[1] = np.array([[*person, 0.9]], np.float32)  # the person detected as rider
    image0[0] = np.zeros((0, 5), np.float32)
    image0[2] = np.concatenate(
        [
            image0[2],
            [[0, 0, 3, 3, 0.9]],  # a background false positive
            [[0, 0, 3, 3, 0.1]],
        ]
    ).astype(np.float32)  # below score_thr
    image0[3] = np.concatenate([image0[3], image0[3] + [1, 0, 1, 0, -0.1]]).astype(
        np.float32
    )  # duplicate
    results[0] = image0
    counts = detkit.analysis.calculate_confusion_matrix(val_dataset, results, score_thr=0.3)
    assert counts[0, 1] == 1 and counts[0, BG] == 1  # misclassified: confusion + missed person
    assert counts[BG, 2] == 1  # background row, the low-score one not counted
    assert counts[3, 3] == 3  # truck: image 2's one + the duplicate counted twice (v2 semantics)
    renms = detkit.analysis.calculate_confusion_matrix(
        val_dataset, results, score_thr=0.3, nms_iou_thr=0.5
    )
    assert renms[3, 3] == 2
    assert (
        detkit.analysis.calculate_confusion_matrix(val_dataset, results, score_thr=0.05)[BG, 2] == 2
    )


def test_plot_is_row_normalised(tmp_path):
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 2]], float)
    percent = detkit.analysis.plot_confusion_matrix(
        counts, ["a", "b", "background"], save_dir=str(tmp_path), show=False
    )
    np.testing.assert_allclose(percent[0], [75, 25, 0])
    assert np.isnan(percent[1]).all()  # no ground truth: drawn as -1%
    np.testing.assert_allclose(percent[2], [50, 0, 50])
    assert Image.open(tmp_path / "confusion_matrix.png").size[0] > 100


def test_cli_on_a_pickle_of_mask_results(tiny, val_dataset, tmp_path):
    results = [(boxes, [[] for _ in boxes]) for boxes in gt_results(val_dataset)]
    pkl = tmp_path / "results.pkl"
    pkl.write_bytes(pickle.dumps(results))
    counts = load_tool("confusion_matrix").main(
        [
            tiny["config"],
            str(pkl),
            str(tmp_path / "cm"),
            "--score-thr",
            "0.5",
            "--color-theme",
            "viridis",
            "--cfg-options",
            "data.workers_per_gpu=0",
        ]
    )
    assert counts.shape == (9, 9) and counts[BG].sum() == 0 and counts[:, BG].sum() == 0
    assert (tmp_path / "cm" / "confusion_matrix.png").is_file()


def test_cli_bad_inputs_exit_non_zero_with_a_message(tiny, val_dataset, tmp_path):
    script = str(REPO / "tools/analysis_tools/confusion_matrix.py")
    run = subprocess.run(
        [sys.executable, script, tiny["config"], str(tmp_path / "missing.pkl"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "results file not found" in run.stderr
    short = tmp_path / "short.pkl"
    short.write_bytes(pickle.dumps(gt_results(val_dataset)[:2]))
    with pytest.raises(ValueError, match="got 2 results for the 3 images"):
        detkit.analysis.confusion_matrix(tiny["config"], str(short), str(tmp_path))
    not_results = tmp_path / "dict.pkl"
    not_results.write_bytes(pickle.dumps([{"boxes": 1}] * 3))
    with pytest.raises(TypeError, match="invalid type of prediction results"):
        detkit.analysis.confusion_matrix(tiny["config"], str(not_results), str(tmp_path))
