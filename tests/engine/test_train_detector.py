"""train_detector driven by an MMDetection-style config (in process)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from toy_detector import ToyDataset, ToyDetector

import detkit
from detkit.checkpoint import read_checkpoint

TOY_CONFIG = """
custom_imports = dict(imports=['toy_detector'], allow_failed_imports=False)
model = dict(type='ToyDetector', num_classes=3)
data = dict(
    samples_per_gpu=4, workers_per_gpu=0,
    train=dict(type='ToyDataset', num_samples=16),
    val=dict(type='ToyDataset', num_samples=8, seed=1),
    test=dict(type='ToyDataset', num_samples=8, seed=1))
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=dict(max_norm=10, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=4, warmup_ratio=0.1, step=[2])
runner = dict(type='EpochBasedRunner', max_epochs=3)
checkpoint_config = dict(interval=1)
log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='NumClassCheckHook')]
evaluation = dict(interval=1, metric='accuracy')
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
"""


def write_config(directory, extra: str = "") -> str:
    path = os.path.join(directory, "toy_config.py")
    with open(path, "w") as file:
        file.write(TOY_CONFIG + extra)
    return path


def records(work_dir) -> list[dict]:
    lines = []
    for name in sorted(os.listdir(work_dir)):
        if name.endswith(".log.json"):
            with open(os.path.join(work_dir, name)) as file:
                lines += [json.loads(line) for line in file]
    return lines


def test_train_detector_writes_mmdet_files_and_evaluates(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.work_dir = str(tmp_path / "work")
    detkit.set_random_seed(0)
    model = ToyDetector()
    runner = detkit.train_detector(
        model,
        ToyDataset(16),
        cfg,
        timestamp="20260101_000000",
        meta={"seed": 0, "exp_name": "toy_config.py"},
    )
    work = tmp_path / "work"
    assert sorted(os.listdir(work)) == [
        "20260101_000000.log",
        "20260101_000000.log.json",
        "epoch_1.pth",
        "epoch_2.pth",
        "epoch_3.pth",
        "latest.pth",
    ]
    lines = records(work)
    assert lines[0] == {"seed": 0, "exp_name": "toy_config.py"}
    val = [r for r in lines if r.get("mode") == "val"]
    assert [r["epoch"] for r in val] == [1, 2, 3] and all(0 <= r["accuracy"] <= 1 for r in val)
    train = [r for r in lines if r.get("mode") == "train"]
    assert {"lr", "memory", "data_time", "time", "loss_cls", "acc", "loss", "grad_norm"} <= set(
        train[0]
    )
    assert train[0]["lr"] == pytest.approx(
        0.1 * (1 - (1 - 1 / 4) * 0.9)
    )  # warmup lr before iteration 1
    text = (work / "20260101_000000.log").read_text()
    assert "Epoch [1][2/4]\tlr: " in text and "Epoch(val) [1][8]\tlr: " in text
    checkpoint = read_checkpoint(str(work / "latest.pth"))
    assert checkpoint["meta"]["CLASSES"] == ("red", "green", "blue")
    assert (checkpoint["meta"]["epoch"], checkpoint["meta"]["iter"]) == (3, 12)
    assert runner.model is model


def test_load_from_auto_resume_and_errors(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.work_dir = str(tmp_path / "work")
    cfg.runner.max_epochs = 1
    detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)
    weights = read_checkpoint(str(tmp_path / "work" / "epoch_1.pth"))["state_dict"]

    cfg.runner.max_epochs = 2
    cfg.auto_resume = True
    runner = detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)
    assert (runner.epoch, runner.iter) == (2, 8)  # continued from epoch 1

    cfg2 = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg2.work_dir = str(tmp_path / "fresh")
    cfg2.runner.max_epochs = 1
    cfg2.optimizer.lr = 0.0  # load_from: weights only, training starts at epoch 0
    cfg2.lr_config = None
    runner = detkit.train_detector(ToyDetector(), ToyDataset(16), cfg2, validate=False)
    assert (runner.epoch, runner.iter) == (1, 4)
    cfg2.load_from = str(tmp_path / "work" / "epoch_1.pth")
    cfg2.work_dir = str(tmp_path / "fresh2")
    runner = detkit.train_detector(ToyDetector(), ToyDataset(16), cfg2, validate=False)
    torch.testing.assert_close(
        runner.model.bbox_head.fc_cls.weight, weights["bbox_head.fc_cls.weight"]
    )

    cfg2.runner = dict(type="IterRunner", max_iters=3)
    with pytest.raises(KeyError, match="runner.type 'IterRunner' is unknown"):
        detkit.train_detector(ToyDetector(), ToyDataset(16), cfg2, validate=False)
    cfg2.runner = dict(type="IterBasedRunner", max_iters=3)
    cfg2.checkpoint_config = dict(interval=2)
    cfg2.work_dir = str(tmp_path / "iters")
    runner = detkit.train_detector(ToyDetector(), ToyDataset(16), cfg2, validate=False)
    assert runner.iter == 3
    assert sorted(p for p in os.listdir(tmp_path / "iters") if p.endswith(".pth")) == [
        "iter_2.pth",
        "iter_3.pth",
        "latest.pth",
    ]


def test_auto_scale_lr_fp16_custom_hook_priority_and_progress_in_config(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.work_dir = str(tmp_path / "work")
    cfg.runner.max_epochs = 1
    cfg.lr_config = None
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=16)
    cfg.fp16 = dict(loss_scale=512.0)
    cfg.log_config.hooks = [dict(type="TextLoggerHook"), dict(type="ProgressBarHook")]
    cfg.custom_hooks = [dict(type="NumClassCheckHook", priority="VERY_HIGH")]
    runner = detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)
    assert runner.optimizer.param_groups[0]["lr"] == pytest.approx(
        0.1 * 4 / 16
    )  # 1 process x 4 images
    assert runner.gradient_step.fp16 and runner.gradient_step.state_dict()["scale"] == 512.0
    names = [type(h).__name__ for h in runner.hooks]
    assert names[0] == "NumClassCheckHook"
    assert (
        names.index("CheckpointHook")
        < names.index("ProgressBarHook")
        < names.index("TextLoggerHook")
    )


def test_setup_training_builds_the_run_and_adds_no_hooks_of_its_own(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    with pytest.raises(KeyError, match="work_dir"):
        detkit.setup_training(cfg, seed=0)
    cfg.work_dir = str(tmp_path / "work")
    cfg.runner.max_epochs = 1
    setup = detkit.setup_training(cfg, seed=5)
    assert (
        (tmp_path / "work" / "toy_config.py").is_file()
        and cfg.seed == 5
        and setup.meta["seed"] == 5
    )
    assert setup.model.CLASSES == ("red", "green", "blue") and len(setup.datasets) == 1
    assert setup.meta["exp_name"] == "toy_config.py" and "PyTorch" in setup.meta["env_info"]
    runner = setup.train(validate=False)
    names = [type(h).__name__ for h in runner.hooks]
    assert "ProgressBarHook" not in names and "EvalHook" not in names  # only what the config names
    assert read_checkpoint(str(tmp_path / "work" / "latest.pth"))["meta"]["CLASSES"] == (
        "red",
        "green",
        "blue",
    )
