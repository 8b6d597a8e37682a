"""eval_metric (a saved results pickle evaluated again) and print_config."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
from analysis_helpers import REPO, gt_results, load_tool

import detkit


def test_eval_metric_on_ground_truth_results(tiny, val_dataset, tmp_path, capsys):
    pkl = tmp_path / "results.pkl"
    pkl.write_bytes(pickle.dumps(gt_results(val_dataset)))
    metrics = load_tool("eval_metric").main(
        [tiny["config"], str(pkl), "--eval", "bbox", "--eval-options", "classwise=True"]
    )
    assert metrics["bbox_mAP"] == 1.0 and metrics["bbox_mAP_50"] == 1.0
    assert "bicycle" in capsys.readouterr().out  # the per-class table
    prefix = tmp_path / "json" / "res"
    assert (
        detkit.analysis.eval_metric(
            tiny["config"],
            str(pkl),
            format_only=True,
            eval_options=dict(jsonfile_prefix=str(prefix)),
        )
        == {}
    )
    assert len(json.loads((tmp_path / "json" / "res.bbox.json").read_text())) == 11


def test_eval_metric_bad_inputs(tiny, val_dataset, tmp_path):
    tool = load_tool("eval_metric")
    with pytest.raises(SystemExit):
        tool.parse_args([tiny["config"], "x.pkl"])  # neither --eval nor --format-only
    with pytest.raises(SystemExit):
        tool.parse_args([tiny["config"], "x.pkl", "--eval", "bbox", "--format-only"])
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a pickle")
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/analysis_tools/eval_metric.py"),
            tiny["config"],
            str(broken),
            "--eval",
            "bbox",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and f"{broken} is not a results pickle" in run.stderr
    with pytest.raises(KeyError, match="metric 'mAP' is not supported"):
        detkit.analysis.eval_metric(tiny["config"], gt_results(val_dataset), eval=["mAP"])


def test_print_config_shows_the_merged_config(tiny, capsys):
    text = load_tool("print_config").main(
        [tiny["config"], "--cfg-options", "model.neck.out_channels=8"]
    )
    assert capsys.readouterr().out.strip() == text.strip()
    assert text.startswith("Config:\n") and "out_channels=8" in text and "AugFPN" in text
    with pytest.warns(UserWarning, match="--options is deprecated"):
        assert "out_channels=4" in load_tool("print_config").main(
            [tiny["config"], "--options", "model.neck.out_channels=4"]
        )
    with pytest.raises(FileNotFoundError, match="config file not found"):
        detkit.analysis.print_config(tiny["root"] + "/missing.py")
