"""analyze_results: VOC-style eval_map, the per-image mAP over IoU 0.50:0.95, the ranking
and the drawn good/bad folders."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from analysis_helpers import gt_results, load_tool
from PIL import Image

import detkit
from detkit.evaluation import eval_map


def one_class(*rows):
    return [np.array(rows, np.float32).reshape(-1, 5)]


ANN = dict(bboxes=np.array([[0, 0, 10, 10]], np.float32), labels=np.array([0]))


def test_eval_map_orders_by_score_and_ignores_boxes():
    # a false positive scoring above the true positive: precision 1/2 at recall 1
    m_ap, per_class = eval_map([one_class([20, 20, 30, 30, 0.9], [0, 0, 10, 10, 0.8])], [ANN])
    assert m_ap == pytest.approx(0.5) and per_class[0]["num_gts"] == 1
    assert eval_map([one_class([0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8])], [ANN])[
        0
    ] == pytest.approx(1.0)
    ignored = dict(
        ANN, bboxes_ignore=np.array([[20, 20, 30, 30]], np.float32), labels_ignore=np.array([0])
    )
    assert eval_map([one_class([20, 20, 30, 30, 0.9], [0, 0, 10, 10, 0.8])], [ignored])[
        0
    ] == pytest.approx(1.0)
    no_gt = dict(bboxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64))
    assert eval_map([one_class([0, 0, 10, 10, 0.9])], [no_gt])[0] == 0.0


def test_bbox_map_eval_averages_ten_iou_thresholds():
    # IoU 0.78: a true positive at 0.50 .. 0.75 (6 of 10 thresholds)
    assert detkit.analysis.bbox_map_eval(one_class([0, 0, 10, 7.8, 0.9]), ANN) == pytest.approx(0.6)
    assert detkit.analysis.bbox_map_eval(
        (one_class([0, 0, 10, 10, 0.9]), [[]]), ANN
    ) == pytest.approx(1.0)


def test_cli_draws_best_and_worst(tiny, val_dataset, tmp_path):
    results = gt_results(val_dataset)
    results[2] = [r[:1] for r in results[2]]  # image 2 keeps one box per class: between 0 and 1
    pkl = tmp_path / "results.pkl"
    pkl.write_bytes(pickle.dumps(results))
    ranked = load_tool("analyze_results").main(
        [
            tiny["config"],
            str(pkl),
            str(tmp_path / "shown"),
            "--topk",
            "5",
            "--show-score-thr",
            "0.3",
        ]
    )
    # topk capped at 3 // 2 = 1; image 1 has no objects: mAP 0
    assert ranked["good"] == [(0, 1.0)] and ranked["bad"] == [(1, 0.0)]
    stem = lambda i: val_dataset.data_infos[i]["filename"].rsplit("/", 1)[-1][: -len(".png")]  # noqa: E731
    good = tmp_path / "shown" / "good" / f"{stem(0)}_1.0.png"
    bad = tmp_path / "shown" / "bad" / f"{stem(1)}_0.0.png"
    assert good.is_file() and bad.is_file()
    assert Image.open(good).size == (256, 2 * 128)  # ground truth above detections
    overlaid = detkit.analysis.analyze_results(
        tiny["config"], results, str(tmp_path / "overlay"), topk=1, overlay_gt_pred=True
    )
    assert overlaid == ranked
    assert Image.open(tmp_path / "overlay" / "good" / f"{stem(0)}_1.0.png").size == (256, 128)
    with pytest.raises(ValueError, match="topk must be >= 1"):
        detkit.analysis.analyze_results(tiny["config"], results, str(tmp_path / "x"), topk=0)
