"""analyze_logs: plot_curve's curves (iteration / epoch axes, legends) and cal_train_time's
figures, on hand-written .log.json files in TextLoggerHook's format and on one the Runner wrote."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from analysis_helpers import REPO, load_tool

import detkit
from detkit.engine import Hook, Runner
from detkit.engine.hooks import TextLoggerHook


def write_log(path, losses, times, maps, iters_per_epoch=4, interval=2):
    """A run meta line, then per epoch train records every ``interval`` iterations and a
    val record (``iter`` = the epoch's length, as the EvalHook writes it)."""
    lines = [dict(env_info="cpu", config="x", seed=0)]
    k = 0
    for epoch, m_ap in enumerate(maps, 1):
        for it in range(interval, iters_per_epoch + 1, interval):
            lines.append(
                dict(
                    mode="train",
                    epoch=epoch,
                    iter=it,
                    lr=0.01,
                    memory=0,
                    data_time=0.0,
                    time=times[k],
                    loss_cls=losses[k] / 2,
                    loss=losses[k],
                )
            )
            k += 1
        lines.append(dict(mode="val", epoch=epoch, iter=iters_per_epoch, lr=0.01, bbox_mAP=m_ap))
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return str(path)


@pytest.fixture
def logs(tmp_path):
    a = write_log(
        tmp_path / "a.log.json",
        [4.0, 3.0, 2.0, 1.0, 0.5, 0.4],
        [9.0, 1.0, 5.0, 2.0, 4.0, 4.0],
        [0.1, 0.2, 0.3],
    )
    b = write_log(
        tmp_path / "b.log.json",
        [5.0, 4.0, 3.0, 2.0, 1.0, 0.9],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [0.05, 0.15, 0.25],
    )
    return a, b


def test_load_json_logs_groups_by_epoch(logs):
    (log,) = detkit.analysis.load_json_logs([logs[0]])
    assert sorted(log) == [1, 2, 3]
    assert log[2]["mode"] == ["train", "train", "val"]
    assert log[2]["loss"] == [2.0, 1.0] and log[2]["bbox_mAP"] == [0.2]


def test_plot_curve_two_runs_two_keys(logs, tmp_path):
    out = tmp_path / "curves" / "loss.png"
    curves = detkit.analysis.plot_curve(
        list(logs),
        keys=["loss", "loss_cls"],
        legend=["a", "a_cls", "b", "b_cls"],
        title="losses",
        out=str(out),
    )
    assert out.is_file() and list(curves) == ["a", "a_cls", "b", "b_cls"]
    xs, ys = curves["a"]
    np.testing.assert_array_equal(xs, [2, 4, 6, 8, 10, 12])  # (epoch - 1) * 4 + iter
    np.testing.assert_array_equal(ys, [4.0, 3.0, 2.0, 1.0, 0.5, 0.4])
    np.testing.assert_array_equal(curves["b_cls"][1], [2.5, 2.0, 1.5, 1.0, 0.5, 0.45])


def test_plot_curve_metric_per_epoch_from_start_epoch(logs, tmp_path):
    curves = detkit.analysis.plot_curve(
        [logs[1]],
        keys=["bbox_mAP"],
        start_epoch=2,
        out=str(tmp_path / "map.png"),
        style="whitegrid",
    )
    xs, ys = curves[f"{logs[1]}_bbox_mAP"]
    np.testing.assert_array_equal(xs, [2, 3])
    np.testing.assert_allclose(ys, [0.15, 0.25])


def test_cal_train_time_leaves_out_the_first_record_of_each_epoch(logs, capsys):
    (summary,) = detkit.analysis.cal_train_time([logs[0]])
    # per epoch without the first record: 1.0, 2.0, 4.0
    assert summary["slowest_epoch"] == 3 and summary["slowest_time"] == 4.0
    assert summary["fastest_epoch"] == 1 and summary["fastest_time"] == 1.0
    assert summary["average"] == pytest.approx(7 / 3)
    assert summary["std_over_epochs"] == pytest.approx(np.std([1.0, 2.0, 4.0]))
    assert "average iter time: 2.3333 s/iter" in capsys.readouterr().out
    (with_outliers,) = detkit.analysis.cal_train_time([logs[0]], include_outliers=True)
    assert with_outliers["slowest_epoch"] == 1 and with_outliers["slowest_time"] == 5.0


def test_cli_and_bad_inputs(logs, tmp_path):
    tool = load_tool("analyze_logs")
    out = tmp_path / "cli.png"
    curves = tool.main(
        ["plot_curve", *logs, "--keys", "loss", "--legend", "a", "b", "--out", str(out)]
    )
    assert out.is_file() and set(curves) == {"a", "b"}
    assert tool.main(["cal_train_time", logs[1]])[0]["average"] == 1.0
    with pytest.raises(ValueError, match="needs 2 labels"):
        tool.main(["plot_curve", *logs, "--keys", "loss", "--legend", "a", "--out", str(out)])
    with pytest.raises(KeyError, match="does not contain 'segm_mAP'.*--no-validate"):
        tool.main(["plot_curve", logs[0], "--keys", "segm_mAP", "--out", str(out)])
    with pytest.raises(ValueError, match="unknown plot style"):
        tool.main(["plot_curve", logs[0], "--keys", "loss", "--style", "nope", "--out", str(out)])
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/analysis_tools/analyze_logs.py"),
            "cal_train_time",
            str(tmp_path / "missing.log.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "log file not found" in run.stderr


class LinearModel(torch.nn.Module):
    """``train_step`` of a 1-parameter regression: loss = (w - 3)^2."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def train_step(self, data, optimizer=None):
        loss = (self.w - 3) ** 2 * data
        return dict(loss=loss, log_vars=dict(loss_reg=loss.item(), loss=loss.item()), num_samples=1)


class FakeMetric(Hook):
    """Writes a ``bbox_mAP`` into the log buffer after each epoch, as the EvalHook does."""

    def after_train_epoch(self, runner):
        runner.log_buffer.output.update(
            eval_iter_num=len(runner.data_loader), bbox_mAP=0.1 * (runner.epoch + 1)
        )
        runner.log_buffer.ready = True


def test_a_log_written_by_the_runner(tmp_path):
    model = LinearModel()
    runner = Runner(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        work_dir=str(tmp_path),
        max_epochs=3,
        meta=dict(seed=0, exp_name="linear"),
        logger=logging.getLogger("detkit.test_analyze_logs"),
    )
    runner.register_hook(FakeMetric())
    runner.register_hook(TextLoggerHook(interval=2))
    runner.run([[torch.tensor(1.0)] * 4])
    (json_log,) = [str(p) for p in tmp_path.glob("*.log.json")]
    curves = detkit.analysis.plot_curve(
        [json_log], keys=["loss", "bbox_mAP"], legend=["loss", "mAP"], out=str(tmp_path / "run.png")
    )
    np.testing.assert_array_equal(curves["loss"][0], [2, 4, 6, 8, 10, 12])
    assert np.all(np.diff(curves["loss"][1]) < 0)  # gradient descent on a convex loss
    np.testing.assert_array_equal(curves["mAP"][0], [1, 2, 3])
    np.testing.assert_allclose(curves["mAP"][1], [0.1, 0.2, 0.3])
    (summary,) = detkit.analysis.cal_train_time([json_log])
    assert 0 < summary["fastest_time"] <= summary["average"] <= summary["slowest_time"]
