"""The demo config with PhotoMetricDistortion + CopyPaste (MultiImageMixDataset) trains the tiny
16-channel model for a few iterations on a generated 128x64 Cityscapes-format sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from tiny_demo import TINY_DEMO_OPTIONS

import detkit
from detkit.data import convert_cityscapes, generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
CONFIG = (
    REPO
    / "configs/cityscapes"
    / "cascade_mask_rcnn_r50_augfpn_autoaug_photometric_copypaste_cityscapes_demo.py"
)


def test_copy_paste_photometric_config_trains_a_few_iterations(tmp_path):
    torch.set_num_threads(1)
    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=3, val=0, test=0, size=(128, 64), seed=5)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("train",))
    cfg = detkit.Config.fromfile(str(CONFIG))
    inner = "data.train.dataset.dataset"
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            f"{inner}.ann_file": str(root / "annotations/instancesonly_filtered_gtFine_train.json"),
            f"{inner}.img_prefix": str(root / "leftImg8bit/train/"),
            "data.train.times": 1,
            "data.samples_per_gpu": 1,
            "runner.max_epochs": 1,
            "total_epochs": 1,
            "lr_config.warmup_iters": 2,
        }
    )
    detkit.set_img_scale(cfg, (128, 64))
    cfg.work_dir = str(tmp_path / "work")
    dataset = detkit.build_dataset(cfg.data.train)
    np.random.seed(1)
    item = dataset[0]
    assert item["img"].data.shape[-2:] == (64, 128)
    assert len(item["gt_bboxes"].data) == len(item["gt_labels"].data) == len(item["gt_masks"])
    assert type(dataset.dataset).__name__ == "MultiImageMixDataset"

    detkit.set_random_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    detkit.train_detector(model, dataset, cfg, validate=False, timestamp="20260101_000000")
    lines = [
        json.loads(line)
        for line in (tmp_path / "work" / "20260101_000000.log.json").read_text().splitlines()
    ]
    train = [line for line in lines if line.get("mode") == "train"]
    assert len(train) == 3 and all(math.isfinite(line["loss"]) for line in train)
    assert (tmp_path / "work" / "latest.pth").exists()
