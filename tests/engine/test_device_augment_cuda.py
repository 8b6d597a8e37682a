"""device_augment and the GPU loop on CUDA (skipped without a GPU): the CUDA batch equals the
CPU batch for the same draws; a tiny seed model trains with pinned loaders, fp16 or bf16."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from test_device_augment import STD, _config, sample_root  # noqa: F401  (module fixture)

import detkit

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_cuda_batch_equals_cpu_batch(sample_root, tmp_path):  # noqa: F811
    dataset = detkit.build_dataset(_config(sample_root, tmp_path).data.train)
    split, device_aug = detkit.data.split_device_augment(dataset)
    np.random.seed(3)
    batch = detkit.data.collate([split[i] for i in range(4)], samples_per_gpu=4)
    cpu = device_aug(detkit.engine.scatter(copy.deepcopy(batch), "cpu"))
    gpu = device_aug(detkit.engine.scatter(batch, "cuda"))
    assert gpu["img"].is_cuda and gpu["img"].shape == cpu["img"].shape
    grey = (gpu["img"].cpu() - cpu["img"]).abs() * torch.from_numpy(STD).view(1, 3, 1, 1)
    assert grey.max() <= 1.01
    for i in range(4):
        assert gpu["img_metas"][i]["pad_shape"] == cpu["img_metas"][i]["pad_shape"]
        assert torch.allclose(gpu["gt_bboxes"][i].cpu(), cpu["gt_bboxes"][i], atol=1e-3)
        assert torch.equal(gpu["gt_labels"][i].cpu(), cpu["gt_labels"][i])
        masks_gpu, masks_cpu = gpu["gt_masks"][i].cpu(), cpu["gt_masks"][i]
        assert (
            masks_gpu.shape == masks_cpu.shape and (masks_gpu != masks_cpu).float().mean() < 0.005
        )


@pytest.mark.parametrize("fp16", [dict(loss_scale="dynamic"), dict(dtype="bfloat16")])
def test_tiny_seed_model_trains_on_cuda_with_device_augment(sample_root, tmp_path, fp16):  # noqa: F811
    cfg = _config(
        sample_root,
        tmp_path / "work",
        device_augment=True,
        fp16=fp16,
        device="cuda",
        cudnn_benchmark=True,
        **{"model.channels_last": True},
    )
    detkit.set_random_seed(0)
    model = detkit.build_detector(
        cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg")
    )
    torch.cuda.reset_peak_memory_stats()
    runner = detkit.train_detector(model, detkit.build_dataset(cfg.data.train), cfg, validate=False)
    assert runner.iter == 4 and runner.data_loader.pin_memory is True
    assert all(math.isfinite(v) for v in runner.outputs["log_vars"].values())
    assert next(model.parameters()).is_cuda and torch.cuda.max_memory_allocated() > 0
