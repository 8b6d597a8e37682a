"""Validation loss, the best checkpoint and early stopping (MMEngine's ``EarlyStoppingHook``
arguments, ``mmengine/hooks/early_stopping_hook.py``): the rule on hand-made sequences, then
real runs of the toy detector with a ``('val', 1)`` phase through the config, the runner and
``tools/train.py --early-stopping``."""

from __future__ import annotations

import math
import os
import sys

import pytest
from test_train_cli import TRAIN, run, train_records
from test_train_detector import write_config

import detkit
from detkit.checkpoint import read_checkpoint
from detkit.engine import enable_early_stopping
from detkit.engine.hooks import EarlyStoppingHook, SaveBestHook
from detkit.engine.hooks.monitor import infer_rule


def decisions(hook: EarlyStoppingHook, values: list[float]) -> list[str | None]:
    return [hook.decide(v, epoch) for epoch, v in enumerate(values, start=1)]


def test_plateau_stops_after_patience_evaluations():
    hook = EarlyStoppingHook("val_loss", min_delta=0.05, patience=2)
    # 0.80 improves on 1.00 by more than 0.05; 0.79 and 0.80 do not -> stop at the 4th
    reasons = decisions(hook, [1.0, 0.8, 0.79, 0.8, 0.5])
    assert reasons[:3] == [None, None, None] and reasons[3] is not None
    assert "val_loss did not improve by more than 0.05 in 2 evaluations" in reasons[3]
    assert "best 0.8000 at epoch 2" in reasons[3]
    greater = EarlyStoppingHook("bbox_mAP", min_delta=0.0, patience=1)
    assert decisions(greater, [0.1, 0.2])[1] is None and greater.decide(0.2, 3) is not None
    assert greater.best_epoch == 2


def test_threshold_non_finite_and_rules():
    assert EarlyStoppingHook("bbox_mAP", stopping_threshold=0.5).decide(0.6, 1) is not None
    assert EarlyStoppingHook("val_loss", stopping_threshold=0.5).decide(0.6, 1) is None
    assert "is not finite" in EarlyStoppingHook("val_loss").decide(math.nan, 1)
    assert EarlyStoppingHook("val_loss", check_finite=False).decide(math.inf, 1) is None
    assert infer_rule("coco/bbox_mAP") == "greater" and infer_rule("val_loss_cls") == "less"
    assert infer_rule("accuracy") == "greater"
    with pytest.raises(ValueError, match="cannot infer .*'f1_score'"):
        EarlyStoppingHook("f1_score")
    with pytest.raises(ValueError, match="patience must be a positive int"):
        EarlyStoppingHook("val_loss", patience=0)
    with pytest.raises(ValueError, match="rule must be 'greater' or 'less'"):
        SaveBestHook("val_loss", rule="lower")


def expected_stop(values: list[float], min_delta: float, patience: int) -> int:
    """The epoch a 'less' rule with ``min_delta`` and ``patience`` stops at (0: never)."""
    best, wait = math.inf, 0
    for epoch, value in enumerate(values, start=1):
        if value < best - min_delta:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch
    return 0


# a val phase and an LR that falls to nothing after 2 epochs: the val loss plateaus
PLATEAU = """
runner = dict(type='EpochBasedRunner', max_epochs=6)
lr_config = dict(policy='step', step=[2], gamma=1e-6)
optimizer = dict(type='SGD', lr=0.2, momentum=0.0, weight_decay=0.0)
evaluation = dict(interval=100, metric='accuracy')
"""


def log_text(work_dir: str) -> str:
    return "".join(
        open(os.path.join(work_dir, n)).read() for n in os.listdir(work_dir) if n.endswith(".log")
    )


def test_val_loss_plateau_stops_keeps_best_and_says_why(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path), PLATEAU))
    cfg.work_dir = str(tmp_path / "work")
    hook = enable_early_stopping(cfg, {"patience": 2, "min_delta": 0.05})
    assert hook == dict(type="EarlyStoppingHook", monitor="val_loss", patience=2, min_delta=0.05)
    assert cfg.workflow == [("train", 1), ("val", 1)]
    assert cfg.checkpoint_config.save_best == "val_loss"
    runner = detkit.setup_training(cfg, seed=0).train(validate=False)
    val = [r for r in train_records(cfg.work_dir).values() if r["mode"] == "val"]
    losses = [r["loss"] for r in sorted(val, key=lambda r: r["epoch"])]
    stop = expected_stop(losses, 0.05, 2)
    assert 2 < stop < 6 and len(losses) == stop  # stopped early, at the rule's epoch
    assert runner.epoch == stop and runner.stop_training
    assert f"early stopping after epoch {stop}: val_loss did not improve" in runner.stop_reason
    assert runner.stop_reason in log_text(cfg.work_dir)
    best_epoch = 1 + min(range(stop), key=lambda e: losses[e])
    best = runner.best_checkpoints["val_loss"]
    assert best["epoch"] == best_epoch and best["score"] == pytest.approx(
        losses[best_epoch - 1], abs=1e-5
    )
    assert os.path.basename(best["path"]) == f"best_val_loss_epoch_{best_epoch}.pth"
    assert [n for n in os.listdir(cfg.work_dir) if n.startswith("best_")] == [
        f"best_val_loss_epoch_{best_epoch}.pth"
    ]
    assert read_checkpoint(best["path"])["meta"]["epoch"] == best_epoch
    assert f"best checkpoint: {best['path']}" in log_text(cfg.work_dir)


def test_eval_metric_monitor_and_strict(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path), PLATEAU.replace("100", "1")))
    cfg.work_dir = str(tmp_path / "metric")
    enable_early_stopping(cfg, {"monitor": "accuracy", "patience": 1, "min_delta": 0.0})
    assert cfg.workflow == [("train", 1)]  # an evaluation metric needs no val phase
    runner = detkit.setup_training(cfg, seed=0).train(validate=True)
    assert runner.stop_training and runner.epoch < 6
    assert set(runner.best_checkpoints) == {"accuracy"}
    strict = detkit.Config.fromfile(write_config(str(tmp_path), PLATEAU.replace("100", "1")))
    strict.work_dir = str(tmp_path / "strict")
    enable_early_stopping(strict, {"monitor": "bbox_mAP", "strict": True})
    strict.checkpoint_config.pop("save_best")
    with pytest.raises(KeyError, match="monitor 'bbox_mAP' is not among .*'accuracy'"):
        detkit.setup_training(strict, seed=0).train(validate=True)
    with pytest.raises(TypeError):
        enable_early_stopping(cfg, {"patience": 2, "wait": 3})  # not an argument


@pytest.mark.slow
def test_train_tool_early_stopping_flag(tmp_path):
    config = write_config(str(tmp_path), PLATEAU)
    work_dir = tmp_path / "cli"
    args = [sys.executable, TRAIN, config, "--work-dir", str(work_dir), "--seed", "0"]
    result = run(args + ["--no-validate", "--early-stopping", "patience=2", "min_delta=0.05"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "early stopping after epoch" in result.stderr and "best checkpoint:" in result.stderr
    assert any(n.startswith("best_val_loss_epoch_") for n in os.listdir(work_dir))
    # the same through the config key, its patience set with --cfg-options
    keyed = tmp_path / "keyed.py"
    keyed.write_text(
        "_base_ = './toy_config.py'\nworkflow = [('train', 1), ('val', 1)]\n"
        "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='EarlyStoppingHook', "
        "monitor='val_loss', patience=5, min_delta=0.05)]\n"
    )
    options = ["--cfg-options", "custom_hooks.1.patience=2", "checkpoint_config.save_best=val_loss"]
    again = run(
        [
            *args[:2],
            str(keyed),
            "--work-dir",
            str(tmp_path / "cfg"),
            *args[5:],
            "--no-validate",
            *options,
        ]
    )
    assert again.returncode == 0, again.stderr[-3000:]
    stopped = [
        line.split(" - ")[-1]
        for line in again.stderr.splitlines()
        if "early stopping after" in line
    ]
    first = [
        line.split(" - ")[-1]
        for line in result.stderr.splitlines()
        if "early stopping after" in line
    ]
    assert stopped == first and len(first) == 1
    bad = run([*args, "--cfg-options", "custom_hooks=[dict(type='EarlyStoppingHook',patience=2)]"])
    assert bad.returncode != 0 and "set dicts in the config file" in bad.stderr
