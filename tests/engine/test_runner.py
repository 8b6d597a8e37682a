"""Runner, hooks, LR schedules, checkpoints, logs, NaN guard and in-process exact resume."""

from __future__ import annotations

import json
import logging
import math
import os

import pytest
import torch
from torch.utils.data import DataLoader
from toy_detector import ToyDataset, ToyDetector

from detkit.checkpoint import read_checkpoint
from detkit.engine import (
    CheckpointHook,
    GradientStep,
    Hook,
    NumClassCheckHook,
    Runner,
    StepLrUpdaterHook,
    TextLoggerHook,
    build_optimizer,
    get_priority,
    set_random_seed,
)
from detkit.engine.hooks import CosineAnnealingLrUpdaterHook, DistSamplerSeedHook
from detkit.engine.optim import lr_hook_config
from detkit.registry import HOOKS


class RecordLr(Hook):
    priority = "LOWEST"

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def before_train_iter(self, runner):
        self.lrs.append(runner.optimizer.param_groups[0]["lr"])


def make_runner(
    work_dir,
    max_epochs=3,
    max_iters=None,
    num_samples=12,
    batch=4,
    lr=0.1,
    seed=0,
    nan_at_call=None,
    gradient_step=None,
    shuffle=True,
):
    set_random_seed(seed)
    model = ToyDetector(nan_at_call=nan_at_call)
    optimizer = build_optimizer(model, dict(type="SGD", lr=lr, momentum=0.9, weight_decay=1e-4))
    loader = DataLoader(ToyDataset(num_samples), batch_size=batch, shuffle=shuffle)
    runner = Runner(
        model,
        optimizer,
        work_dir=str(work_dir),
        max_epochs=max_epochs,
        max_iters=max_iters,
        gradient_step=gradient_step,
    )
    return runner, loader


def test_step_lr_with_linear_warmup_matches_mmcv_formula(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=4)
    runner.register_hook(
        StepLrUpdaterHook(
            step=[2, 3], gamma=0.1, warmup="linear", warmup_iters=5, warmup_ratio=0.001
        )
    )
    record = runner.register_hook(RecordLr())
    runner.run([loader])
    expected = []
    for i in range(12):  # 3 iterations per epoch
        regular = 0.1 * 0.1 ** sum(1 for s in (2, 3) if i // 3 >= s)
        expected.append(regular * (1 - (1 - i / 5) * (1 - 0.001)) if i < 5 else regular)
    assert record.lrs == pytest.approx(expected, rel=1e-12)
    assert record.lrs[0] == pytest.approx(0.1 * 0.001)
    assert record.lrs[6:] == pytest.approx([0.01] * 3 + [0.001] * 3)


@pytest.mark.parametrize(
    "warmup,factor", [("constant", lambda i: 0.25), ("exp", lambda i: 0.25 ** (1 - i / 4))]
)
def test_constant_and_exp_warmup(tmp_path, warmup, factor):
    runner, loader = make_runner(tmp_path, max_epochs=2)
    runner.register_hook(
        lr_hook_config(dict(policy="fixed", warmup=warmup, warmup_iters=4, warmup_ratio=0.25))
    )
    record = runner.register_hook(RecordLr())
    runner.run([loader])
    assert record.lrs == pytest.approx([0.1 * factor(i) for i in range(4)] + [0.1, 0.1])


def test_cosine_annealing_by_epoch_and_by_iter(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=4)
    runner.register_hook(lr_hook_config(dict(policy="CosineAnnealing", min_lr_ratio=0.01)))
    record = runner.register_hook(RecordLr())
    runner.run([loader])
    target = 0.1 * 0.01
    per_epoch = [target + (0.1 - target) * (math.cos(math.pi * e / 4) + 1) / 2 for e in range(4)]
    assert record.lrs == pytest.approx([lr for lr in per_epoch for _ in range(3)])

    runner, loader = make_runner(tmp_path / "iter", max_epochs=None, max_iters=5)
    runner.register_hook(CosineAnnealingLrUpdaterHook(min_lr=0.0, by_epoch=False))
    record = runner.register_hook(RecordLr())
    runner.run([loader])
    assert record.lrs == pytest.approx(
        [0.1 * (math.cos(math.pi * i / 5) + 1) / 2 for i in range(5)]
    )
    assert runner.iter == 5 and runner.epoch == 2  # budget stops mid-epoch 2


def test_lr_config_errors():
    with pytest.raises(KeyError, match="policy"):
        lr_hook_config(dict(step=[8]))
    with pytest.raises(ValueError, match="warmup must be one of"):
        StepLrUpdaterHook(step=[8], warmup="cosine", warmup_iters=5)
    with pytest.raises(ValueError, match="exactly one of min_lr"):
        CosineAnnealingLrUpdaterHook()
    assert lr_hook_config(dict(policy="step", step=[8]))["type"] == "StepLrUpdaterHook"


def test_hook_priorities_and_custom_hook_from_registry(tmp_path):
    calls = []

    @HOOKS.register_module(force=True)
    class OrderProbe(Hook):
        def __init__(self, name: str) -> None:
            self.name = name

        def before_run(self, runner):
            calls.append(self.name)

    runner, loader = make_runner(tmp_path, max_epochs=1)
    runner.register_hook(dict(type="OrderProbe", name="low", priority="LOW"))
    runner.register_hook(dict(type="OrderProbe", name="normal"))
    runner.register_hook(dict(type="OrderProbe", name="very_high", priority="VERY_HIGH"))
    runner.register_hook(dict(type="OrderProbe", name="int_45", priority=45))
    runner.register_hook(dict(type="OrderProbe", name="normal2", priority="normal"))
    runner.run([loader])
    assert calls == ["very_high", "int_45", "normal", "normal2", "low"]
    assert get_priority("VERY_LOW") == 90
    with pytest.raises(ValueError, match="between 0 and 100"):
        get_priority(101)
    with pytest.raises(KeyError, match="NoSuchHook is not in the hook registry"):
        runner.register_hook(dict(type="NoSuchHook"))


def test_checkpoints_latest_and_max_keep(tmp_path):
    (tmp_path / ".epoch_2.pth.k1ll3d.tmp").write_bytes(b"torn write of a killed run")
    runner, loader = make_runner(tmp_path, max_epochs=4)
    runner.meta = {"CLASSES": ToyDataset.CLASSES, "config": "model = dict(type='ToyDetector')"}
    runner.register_hook(CheckpointHook(interval=1, max_keep_ckpts=2))
    runner.run([loader])
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pth", ".tmp"))
    assert names == ["epoch_3.pth", "epoch_4.pth", "latest.pth"]  # stale temp file removed
    assert os.readlink(tmp_path / "latest.pth") == "epoch_4.pth"
    checkpoint = read_checkpoint(str(tmp_path / "latest.pth"))
    assert set(checkpoint) == {"meta", "state_dict", "optimizer", "resume"}
    meta = checkpoint["meta"]
    assert (meta["epoch"], meta["iter"]) == (4, 12)
    assert meta["CLASSES"] == ("red", "green", "blue") and meta["config"].startswith("model")
    assert "bn.running_mean" in checkpoint["state_dict"]
    assert checkpoint["optimizer"]["param_groups"][0]["momentum"] == 0.9


def test_text_and_json_logs(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=2, num_samples=20)  # 5 iterations per epoch
    runner.meta = {"seed": 0, "exp_name": "toy"}
    runner.logger = logging.getLogger("detkit.test_runner")
    runner.register_hook(StepLrUpdaterHook(step=[1]))
    runner.register_hook(TextLoggerHook(interval=2))
    runner.run([loader])
    lines = [
        json.loads(line)
        for line in (tmp_path / f"{runner.timestamp}.log.json").read_text().splitlines()
    ]
    assert lines[0] == {"seed": 0, "exp_name": "toy"}
    train = lines[1:]
    assert [(r["epoch"], r["iter"]) for r in train] == [
        (1, 2),
        (1, 4),
        (1, 5),
        (2, 2),
        (2, 4),
        (2, 5),
    ]
    assert all(r["mode"] == "train" for r in train)
    assert {"lr", "memory", "data_time", "time", "loss_cls", "acc", "loss"} <= set(train[0])
    assert train[0]["lr"] == 0.1 and train[3]["lr"] == pytest.approx(0.01)
    assert train[0]["loss"] == round(train[0]["loss"], 5)


def test_nan_loss_raises_with_iteration_and_keeps_last_checkpoint(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=3, nan_at_call=5)  # 3 iterations per epoch
    runner.register_hook(CheckpointHook(interval=1))
    good = None

    class Snapshot(Hook):
        priority = "LOWEST"

        def after_train_epoch(self, runner):
            nonlocal good
            good = (tmp_path / "epoch_1.pth").read_bytes()

    runner.register_hook(Snapshot())
    with pytest.raises(
        FloatingPointError, match=r"iteration 5 \(epoch 2, step 2\); losses: \{'loss_cls': nan"
    ):
        runner.run([loader])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_1.pth", "latest.pth"]
    assert (tmp_path / "latest.pth").read_bytes() == good
    assert read_checkpoint(str(tmp_path / "latest.pth"))["meta"]["iter"] == 3


def _train(work_dir, max_epochs, resume_from=None, by_epoch=True, interval=1, fp16=None):
    runner, loader = make_runner(
        work_dir,
        max_epochs=max_epochs,
        gradient_step=GradientStep(loss_scale=fp16, grad_clip=dict(max_norm=1.0)),
    )
    runner.register_hook(
        StepLrUpdaterHook(step=[2], warmup="linear", warmup_iters=4, warmup_ratio=0.1)
    )
    runner.register_hook(CheckpointHook(interval=interval, by_epoch=by_epoch))
    losses = []

    class Losses(Hook):
        def after_train_iter(self, runner):
            losses.append((runner.iter, runner.outputs["log_vars"]["loss"]))

    runner.register_hook(Losses())
    if resume_from is not None:
        set_random_seed(123)  # a resumed process starts from other RNG states
        runner.resume(resume_from)
    runner.run([loader])
    return runner, losses


@pytest.mark.parametrize(
    "by_epoch,interval,resume_name", [(True, 1, "epoch_2.pth"), (False, 4, "iter_4.pth")]
)
def test_resume_continues_exactly(tmp_path, by_epoch, interval, resume_name):
    full, full_losses = _train(tmp_path / "full", 4, by_epoch=by_epoch, interval=interval)
    _train(tmp_path / "part", 2, by_epoch=by_epoch, interval=interval)
    resumed, resumed_losses = _train(
        tmp_path / "resumed",
        4,
        resume_from=str(tmp_path / "part" / resume_name),
        by_epoch=by_epoch,
        interval=interval,
    )
    start = 6 if by_epoch else 4
    assert resumed_losses == full_losses[start:]
    assert (resumed.epoch, resumed.iter) == (full.epoch, full.iter) == (4, 12)
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert resumed.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]


def test_fp16_dynamic_and_static_scale_and_grad_norm(tmp_path):
    for scale in ("dynamic", 512.0):
        runner, losses = _train(tmp_path / str(scale), 1, fp16=scale)
        assert all(math.isfinite(v) for _, v in losses)
        assert "grad_norm" in runner.outputs["log_vars"]
        assert runner.gradient_step.state_dict()["scale"] in (512.0, 65536.0)
    with pytest.raises(ValueError, match="loss_scale"):
        GradientStep(loss_scale="static")
    step = GradientStep.from_config(
        dict(grad_clip=dict(max_norm=35, norm_type=2)), dict(loss_scale=512.0), "cpu"
    )
    assert step.fp16 and step.grad_clip == {"max_norm": 35, "norm_type": 2}
    with pytest.raises(KeyError, match="unsupported keys"):
        GradientStep.from_config(dict(grad_clip=None, cumulative_iters=2), None, "cpu")


def test_num_class_check_and_sampler_epoch(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=1)
    runner.model.bbox_head.num_classes = 8
    runner.register_hook(NumClassCheckHook())
    with pytest.raises(
        ValueError, match=r"num_classes` \(8\) of ToyHead at model.bbox_head does not match the 3"
    ):
        runner.run([loader])

    class Sampler(torch.utils.data.Sampler):
        def __init__(self, n):
            self.n, self.epochs = n, []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    runner, _ = make_runner(tmp_path / "s", max_epochs=3)
    sampler = Sampler(8)
    runner.register_hook(DistSamplerSeedHook())
    runner.run([DataLoader(ToyDataset(8), batch_size=4, sampler=sampler)])
    assert sampler.epochs == [0, 1, 2]


def test_val_workflow_and_errors(tmp_path):
    runner, loader = make_runner(tmp_path, max_epochs=2)
    seen = []

    class ValProbe(Hook):
        def after_val_epoch(self, runner):
            seen.append((runner.epoch, runner.log_buffer.history["loss_cls"][:1]))

    runner.register_hook(ValProbe())
    runner.run(
        [loader, DataLoader(ToyDataset(4, seed=1), batch_size=2)], [("train", 1), ("val", 1)]
    )
    assert [epoch for epoch, _ in seen] == [1, 2]
    with pytest.raises(ValueError, match="no 'train' phase"):
        runner.run([loader], [("val", 1)])
    with pytest.raises(ValueError, match="max_epochs"):
        Runner(ToyDetector(), None, max_epochs=None)
    with pytest.raises(TypeError, match="train_step"):
        Runner(torch.nn.Linear(1, 1), None, max_epochs=1)


def test_resume_with_another_world_size_rescales_iter(tmp_path, caplog):
    _train(tmp_path / "part", 2)
    path = tmp_path / "part" / "epoch_2.pth"
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["meta"]["world_size"] = 2  # as if saved by a 2-process run
    torch.save(checkpoint, path)
    runner, _ = make_runner(tmp_path / "resumed", max_epochs=4)
    runner.logger = logging.getLogger(
        "engine_test_resume"
    )  # outside 'detkit', which does not propagate
    with caplog.at_level("WARNING", logger="engine_test_resume"):
        runner.resume(str(path))
    assert (runner.epoch, runner.iter) == (2, 12)
    assert "saved by 2 processes" in caplog.text
