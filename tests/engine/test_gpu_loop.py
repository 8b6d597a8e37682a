"""The GPU-ready loop's config keys, checked on CPU: fp16/bf16 autocast dtypes, pinned train
loaders, cudnn.benchmark from the config, device_augment parsing, tools/train.py's flag."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
from test_train_detector import write_config
from toy_detector import ToyDataset, ToyDetector

import detkit
from detkit.engine import GradientStep
from detkit.engine.train import device_augment_enabled


def _train_recording_autocast(tmp_path, extra: str):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path), extra))
    cfg.work_dir = str(tmp_path / "work")
    model, seen = ToyDetector(), []
    real_step = model.train_step

    def step(data, optimizer=None):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return real_step(data, optimizer)

    model.train_step = step
    runner = detkit.train_detector(model, ToyDataset(8), cfg, validate=False)
    return runner, seen


@pytest.mark.parametrize(
    ("fp16", "dtype", "scaled"),
    [
        ("dict(loss_scale='dynamic')", torch.bfloat16, True),  # CPU autocast is bfloat16
        ("dict(dtype='bfloat16')", torch.bfloat16, False),
        ("None", None, False),
    ],
)
def test_fp16_and_bf16_config_autocast_the_step(tmp_path, fp16, dtype, scaled):
    runner, seen = _train_recording_autocast(
        tmp_path, f"fp16 = {fp16}\nrunner = dict(type='EpochBasedRunner', max_epochs=1)\n"
    )
    assert len(seen) == 2
    # CPU autocast runs bf16 only where the CPU computes it natively (AVX-512 BF16 / AMX), else
    # float32 (detkit.ops.cpu_autocast_dtype): the expectation follows the machine
    if dtype is None or not detkit.ops.probe_cpu().native(dtype):
        assert not any(enabled for enabled, _ in seen)
    else:
        assert all(enabled and got == dtype for enabled, got in seen)
    assert runner.gradient_step.scaler.is_enabled() == scaled
    with pytest.raises(ValueError, match="fp16.dtype"):
        GradientStep.from_config(None, dict(dtype="half"), "cpu")
    with pytest.raises(KeyError, match="fp16: unsupported keys"):
        GradientStep.from_config(None, dict(loss_scale=512.0, precision="bf16"), "cpu")


def test_train_loader_pin_memory_follows_the_device_and_the_config(tmp_path):
    runner, _ = _train_recording_autocast(
        tmp_path, "runner = dict(type='EpochBasedRunner', max_epochs=1)\n"
    )
    assert runner.data_loader.pin_memory is False  # CPU training
    cfg = detkit.Config.fromfile(
        write_config(
            str(tmp_path),
            "runner = dict(type='EpochBasedRunner', max_epochs=1)\n"
            "data = dict(train_dataloader=dict(pin_memory=True))\n",
        )
    )
    cfg.work_dir = str(tmp_path / "pinned")
    with pytest.warns(
        UserWarning, match="pin_memory"
    ):  # no accelerator here: torch says it cannot pin
        runner = detkit.train_detector(ToyDetector(), ToyDataset(8), cfg, validate=False)
    assert runner.data_loader.pin_memory is True


def test_cudnn_benchmark_from_the_config(tmp_path):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path), "cudnn_benchmark = True\n"))
    cfg.work_dir = str(tmp_path / "work")
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        detkit.setup_training(cfg, seed=0)
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = before


def test_device_augment_key_and_train_flag():
    assert device_augment_enabled({}) is False
    assert device_augment_enabled({"device_augment": True}) is True
    assert device_augment_enabled({"device_augment": {"enable": True}}) is True
    with pytest.raises(KeyError, match="unknown keys"):
        device_augment_enabled({"device_augment": {"enabled": True}})
    with pytest.raises(TypeError, match="device_augment must be"):
        device_augment_enabled({"device_augment": "yes"})
    spec = importlib.util.spec_from_file_location(
        "train_tool", os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train.py")
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.parse_args(["cfg.py", "--device-augment"]).device_augment is True
    assert tool.parse_args(["cfg.py"]).device_augment is False
