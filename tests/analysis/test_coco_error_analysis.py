"""coco_error_analysis: the C75/C50/Loc/Sim/Oth/BG/FN breakdown on a hand-made confusion."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from analysis_helpers import REPO, gt_results, load_tool

import detkit

SUPER = {"person": "human", "rider": "human"}  # the rest: vehicle


@pytest.fixture(scope="module")
def result_json(val_dataset, tmp_path_factory):
    """Ground truth as detections, except image 0's car, detected as a truck scoring above
    the true trucks."""
    results = gt_results(val_dataset)
    car = results[0][2]
    results[0][2] = np.zeros((0, 5), np.float32)
    as_truck = np.concatenate([car[:, :4], np.full((len(car), 1), 0.95, np.float32)], axis=1)
    results[0][3] = np.concatenate([results[0][3], as_truck])
    prefix = tmp_path_factory.mktemp("coco_errors") / "res"
    val_dataset.format_results(results, jsonfile_prefix=str(prefix))
    return f"{prefix}.bbox.json"


def test_breakdown_without_supercategories(tiny, result_json, tmp_path, capsys):
    summary = load_tool("coco_error_analysis").main(
        [result_json, str(tmp_path), "--ann", tiny["val_ann"]]
    )
    truck, car = summary["bbox"]["truck"], summary["bbox"]["car"]
    # trucks: a false positive above two true positives -> precision 2/3 at every recall
    for error in ("C75", "C50", "Loc", "Sim"):  # no supercategories: Sim forgives nothing
        assert truck[error] == pytest.approx(2 / 3, abs=1e-6)
    assert truck["Oth"] == pytest.approx(1.0) and truck["BG"] == truck["FN"] == 1.0
    assert car["C75"] == car["Oth"] == car["BG"] == 0.0 and car["FN"] == 1.0  # the car was missed
    assert summary["bbox"]["person"]["C75"] == pytest.approx(1.0)
    for name in ("truck", "allclass"):
        for area in ("allarea", "small", "medium", "large"):
            assert (tmp_path / "bbox" / f"bbox-{name}-{area}.png").is_file()
    assert "truck" in capsys.readouterr().out


def test_supercategory_confusion_is_sim(tiny, result_json, tmp_path):
    ann = json.loads(open(tiny["val_ann"]).read())
    for cat in ann["categories"]:
        cat["supercategory"] = SUPER.get(cat["name"], "vehicle")
    ann_file = tmp_path / "with_super.json"
    ann_file.write_text(json.dumps(ann))
    summary = detkit.analysis.coco_error_analysis(
        result_json, str(tmp_path / "out"), ann=str(ann_file), extraplots=True
    )
    truck = summary["bbox"]["truck"]
    assert truck["Loc"] == pytest.approx(2 / 3, abs=1e-6) and truck["Sim"] == pytest.approx(
        1.0
    )  # car -> truck forgiven
    assert (tmp_path / "out" / "bbox" / "bbox-allclass-ap bar plot.png").is_file()


def test_bad_inputs(tiny, result_json, tmp_path):
    with pytest.raises(ValueError, match="'bbox' or 'segm'"):
        detkit.analysis.coco_error_analysis(
            result_json, str(tmp_path), ann=tiny["val_ann"], types=["keypoints"]
        )
    with pytest.raises(ValueError, match="3 numbers should be given as areas"):
        detkit.analysis.coco_error_analysis(
            result_json, str(tmp_path), ann=tiny["val_ann"], areas=[1, 2]
        )
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/analysis_tools/coco_error_analysis.py"),
            str(tmp_path / "none.json"),
            str(tmp_path),
            "--ann",
            tiny["val_ann"],
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "result json not found" in run.stderr
