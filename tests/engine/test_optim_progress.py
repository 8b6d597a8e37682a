"""Optimizer construction from configs, the fastprogress hook, dist helpers outside a group."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import DataLoader
from toy_detector import ToyDataset, ToyDetector

from detkit.engine import (
    EvalHook,
    ProgressBarHook,
    Runner,
    all_gather,
    build_optimizer,
    collect_results,
    get_dist_info,
)
from detkit.registry import OPTIMIZERS


def test_registered_optimizers_and_hyper_parameters():
    assert {"SGD", "Adam", "AdamW"} <= set(OPTIMIZERS)
    model = ToyDetector()
    sgd = build_optimizer(model, dict(type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD) and len(sgd.param_groups) == 1
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["nesterov"] is False
    adamw = build_optimizer(model, dict(type="AdamW", lr=1e-3, weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.05
    model.conv.weight.requires_grad_(False)
    assert (
        sum(
            len(g["params"])
            for g in build_optimizer(model, dict(type="Adam", lr=1e-3)).param_groups
        )
        == 5
    )
    with pytest.raises(KeyError, match="Sgd is not in the optimizer registry.*did you mean SGD"):
        build_optimizer(model, dict(type="Sgd", lr=0.1))
    with pytest.raises(KeyError, match="'type' key"):
        build_optimizer(model, dict(lr=0.1))


def test_paramwise_cfg_multipliers():
    model = ToyDetector()
    optimizer = build_optimizer(
        model,
        dict(
            type="SGD",
            lr=0.1,
            weight_decay=0.01,
            paramwise_cfg=dict(
                bias_lr_mult=2.0,
                bias_decay_mult=0.0,
                norm_decay_mult=0.0,
                custom_keys={"bbox_head": dict(lr_mult=0.5, decay_mult=3.0)},
            ),
        ),
    )
    by_param = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    assert (
        by_param[id(model.conv.weight)]["lr"],
        by_param[id(model.conv.weight)]["weight_decay"],
    ) == (0.1, 0.01)
    assert (by_param[id(model.conv.bias)]["lr"], by_param[id(model.conv.bias)]["weight_decay"]) == (
        0.2,
        0.0,
    )
    assert (
        by_param[id(model.bn.weight)]["weight_decay"] == 0.0
        and by_param[id(model.bn.weight)]["lr"] == 0.1
    )
    head = by_param[id(model.bbox_head.fc_cls.bias)]
    assert head["lr"] == pytest.approx(0.05) and head["weight_decay"] == pytest.approx(0.03)
    with pytest.raises(KeyError, match="unknown keys \\['dcn_offset_lr_mult'\\]"):
        build_optimizer(model, dict(type="SGD", lr=0.1, paramwise_cfg=dict(dcn_offset_lr_mult=0.1)))


def test_progress_bar_hook_tracks_losses_and_metric(tmp_path, capsys):
    model = ToyDetector()
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.1, momentum=0.9))
    runner = Runner(model, optimizer, work_dir=str(tmp_path), max_epochs=2)
    val_loader = DataLoader(ToyDataset(4, seed=1), batch_size=2)

    def test_fn(model, loader):
        model.eval()
        with torch.no_grad():
            return [label for batch in loader for label in model(return_loss=False, **batch)]

    runner.register_hook(EvalHook(val_loader, test_fn, ToyDataset(4, seed=1).evaluate))
    progress = runner.register_hook(
        ProgressBarHook(plot_interval=2, metric="accuracy", metrics=["accuracy", "mAP"])
    )
    runner.run([DataLoader(ToyDataset(12), batch_size=4)])
    assert [x for x, _ in progress.losses] == [1, 2, 3, 4, 5, 6]
    assert [x for x, _ in progress.metrics] == [3, 6] and all(
        0 <= y <= 1 for _, y in progress.metrics
    )
    # the per-epoch table: mean train loss of the epoch, the metrics (#na#: not produced), mm:ss
    for epoch, row in enumerate(progress.rows):
        losses = [loss for _, loss in progress.losses[3 * epoch : 3 * epoch + 3]]
        assert row[:2] == [str(epoch + 1), f"{sum(losses) / 3:.4f}"]
        assert row[2] == f"{progress.metrics[epoch][1]:.4f}" and row[3] == "#na#"
        assert len(row[4]) == 5 and row[4][2] == ":"
    lines = capsys.readouterr().out.splitlines()  # a terminal shows the table as aligned text
    header = next(line for line in lines if line.startswith("epoch"))
    assert header.split() == ["epoch", "train_loss", "accuracy", "mAP", "time"]
    assert [line.split() for line in lines if line[:1].isdigit()] == progress.rows


def test_dist_helpers_without_process_group():
    assert get_dist_info() == (0, 1)
    assert all_gather({"a": 1}) == [{"a": 1}]
    assert collect_results([1, 2, 3], 2) == [1, 2]


def test_eval_hook_save_best_and_start(tmp_path):
    model = ToyDetector()
    runner = Runner(
        model,
        build_optimizer(model, dict(type="SGD", lr=0.1, momentum=0.9)),
        work_dir=str(tmp_path),
        max_epochs=4,
    )
    scores = iter([0.5, 0.25, 0.75])
    calls = []

    def evaluate_fn(results, logger=None, metric="accuracy"):
        calls.append(runner.epoch + 1)
        return {"accuracy": next(scores)}

    hook = runner.register_hook(
        EvalHook([], lambda model, loader: [], evaluate_fn, start=2, save_best="auto")
    )
    runner.run([DataLoader(ToyDataset(8), batch_size=4)])
    assert calls == [2, 3, 4]
    assert hook.best_score == 0.75
    assert sorted(os.listdir(tmp_path)) == ["best_accuracy_epoch_4.pth"]
    with pytest.raises(ValueError, match="interval must be positive"):
        EvalHook([], None, None, interval=0)
