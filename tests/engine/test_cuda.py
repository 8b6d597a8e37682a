"""CUDA training steps with mixed precision (skipped without a GPU)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader
from toy_detector import ToyDataset, ToyDetector

import detkit
from detkit.engine import GradientStep, Runner, build_optimizer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("loss_scale", ["dynamic", 512.0])
def test_fp16_step_on_cuda(tmp_path, loss_scale):
    model = ToyDetector().cuda()
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.1, momentum=0.9))
    step = GradientStep.from_config(
        dict(grad_clip=dict(max_norm=10)), dict(loss_scale=loss_scale), "cuda"
    )
    runner = Runner(model, optimizer, work_dir=str(tmp_path), max_epochs=2, gradient_step=step)
    runner.run([DataLoader(ToyDataset(16), batch_size=4)])
    assert runner.iter == 8 and all(math.isfinite(v) for v in runner.outputs["log_vars"].values())
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32
    scale = step.state_dict()["scale"]
    assert scale == 512.0 if loss_scale == 512.0 else scale > 0


def test_cascade_tiny_fp16_step_on_cuda(tmp_path, golden_dir):
    cfg = detkit.Config.fromfile(str(golden_dir / "config.py"))
    model = detkit.build_detector(cfg.model)
    detkit.load_checkpoint(model, str(golden_dir / "checkpoint.pth"), strict=True)
    model.cuda()
    sample = torch.load(golden_dir / "train_input.pt", weights_only=True)
    batch = {key: sample[key] for key in ("img", "img_metas", "gt_bboxes", "gt_labels", "gt_masks")}
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=1e-4))
    runner = Runner(
        model,
        optimizer,
        work_dir=str(tmp_path),
        max_epochs=1,
        gradient_step=GradientStep(loss_scale="dynamic", device_type="cuda"),
    )
    runner.run([[batch, batch]])
    assert all(math.isfinite(v) for v in runner.outputs["log_vars"].values())
    assert torch.cuda.max_memory_allocated() > 0
