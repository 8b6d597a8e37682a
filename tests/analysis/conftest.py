"""A tiny Cityscapes-format sample (2 train, 3 val images; val image 1 has no objects), a
tiny Cascade Mask R-CNN config over it and its random-weight checkpoint."""

from __future__ import annotations

import sys

import pytest
import torch
from analysis_helpers import REPO

import detkit

sys.path.insert(0, str(REPO / "tests" / "engine"))
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS  # noqa: E402  (the shared 16-channel demo model)

CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


@pytest.fixture(scope="package")
def tiny(tmp_path_factory) -> dict[str, str]:
    """``root``, ``config``, ``checkpoint`` and ``val_ann`` of the tiny sample."""
    root = tmp_path_factory.mktemp("tiny_analysis")
    detkit.generate_cityscapes_sample(root, train=2, val=3, test=0, size=(256, 128), seed=2)
    detkit.convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False)
    config = root / "tiny_cascade.py"
    cfg = detkit.Config.fromfile(str(REPO / DEMO_CONFIG))
    ann, images = (
        str(root / "annotations/instancesonly_filtered_gtFine_{}.json"),
        str(root / "leftImg8bit/{}") + "/",
    )
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            "model.test_cfg.rpn.nms_pre": 100,
            "model.test_cfg.rpn.max_per_img": 50,
            "data.train.times": 1,
            "data.train.dataset.ann_file": ann.format("train"),
            "data.train.dataset.img_prefix": images.format("train"),
            **{
                f"data.{split}.{key}": value
                for split in ("val", "test")
                for key, value in (
                    ("ann_file", ann.format("val")),
                    ("img_prefix", images.format("val")),
                )
            },
        }
    )
    detkit.set_img_scale(cfg, (256, 128))
    cfg.dump(str(config))
    torch.manual_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    checkpoint = root / "tiny.pth"
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=CLASSES))
    return dict(
        root=str(root),
        config=str(config),
        checkpoint=str(checkpoint),
        val_ann=str(root / "annotations/instancesonly_filtered_gtFine_val.json"),
    )


@pytest.fixture(scope="package")
def val_dataset(tiny):
    cfg = detkit.Config.fromfile(tiny["config"])
    return detkit.build_dataset(cfg.data.test, dict(test_mode=True))
