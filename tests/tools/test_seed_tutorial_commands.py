"""The seed tutorial's commands, as they read, on the generated Cityscapes-format sample.

``tools/train.py <seed config>`` trains one epoch starting from its ``load_from`` (MMDetection's
COCO Cascade Mask R-CNN URL) and ``tools/test.py <seed config> <work_dir>/latest.pth --eval bbox
segm`` evaluates it. Only the sample's paths, one short epoch and small image scales are given
with ``--cfg-options``. No network: the ``load_from`` URL resolves through the torch.hub cache,
where the test puts an 80-class COCO-shaped checkpoint it builds itself, so the real URL loading
code (and the 80 -> 8 class load report) runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
SEED_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
COCO_CHECKPOINT = "cascade_mask_rcnn_r50_fpn_1x_coco_20200203-9d4dcb24.pth"


def sample_options(root: Path) -> list[str]:
    """The sample's paths, a one-epoch schedule and small scales (the seed's are 2048x1024)."""
    ann = f"{root}/annotations/instancesonly_filtered_gtFine_"
    return [
        f"data.train.dataset.ann_file={ann}train.json",
        f"data.train.dataset.img_prefix={root}/leftImg8bit/train/",
        f"data.val.ann_file={ann}val.json",
        f"data.val.img_prefix={root}/leftImg8bit/val/",
        f"data.test.ann_file={ann}val.json",
        f"data.test.img_prefix={root}/leftImg8bit/val/",
        "data.train.times=1",
        "data.workers_per_gpu=0",
        "total_epochs=1",
        "data.train.dataset.pipeline.3.img_scale=[(256,128),(256,128)]",
        "data.val.pipeline.1.img_scale=(256,128)",
        "data.test.pipeline.1.img_scale=(256,128)",
    ]


@pytest.mark.slow
def test_seed_config_trains_one_epoch_and_tests_from_the_command_line(tmp_path):
    root = tmp_path / "cityscapes"
    generate_cityscapes_sample(root, train=2, val=1, size=(256, 128), seed=3)
    convert_cityscapes(
        root, out_dir=root / "annotations", splits=("train", "val"), show_progress=False
    )

    torch_home = tmp_path / "torch_home"
    cached = torch_home / "hub" / "checkpoints" / COCO_CHECKPOINT
    cached.parent.mkdir(parents=True)
    coco_cfg = detkit.Config.fromfile(
        str(REPO / "configs/_base_/models/cascade_mask_rcnn_r50_fpn.py")
    )
    coco_cfg.model.backbone.init_cfg = None
    detkit.save_checkpoint(detkit.build_detector(coco_cfg.model), str(cached))

    env = dict(os.environ, TORCH_HOME=str(torch_home), OMP_NUM_THREADS="1")
    work_dir = tmp_path / "work_dirs" / "seed"
    options = sample_options(root)
    train = subprocess.run(
        [
            sys.executable,
            "tools/train.py",
            SEED_CONFIG,
            "--work-dir",
            str(work_dir),
            "--cfg-options",
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert train.returncode == 0, train.stderr[-4000:]
    log = train.stdout + train.stderr
    assert COCO_CHECKPOINT in log  # load_from was resolved through the hub cache
    assert "not fetching pretrained weights at model.backbone.init_cfg" in log
    assert "fc_cls" in log and "conv_logits" in log  # the 80 -> 8 class tensors are reported
    assert (work_dir / "latest.pth").exists() and (work_dir / "epoch_1.pth").exists()

    test = subprocess.run(
        [
            sys.executable,
            "tools/test.py",
            SEED_CONFIG,
            str(work_dir / "latest.pth"),
            "--eval",
            "bbox",
            "segm",
            "--work-dir",
            str(work_dir),
            "--cfg-options",
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert test.returncode == 0, test.stderr[-4000:]
    for key in ("bbox_mAP", "segm_mAP", "bbox_mAP_copypaste", "segm_mAP_copypaste"):
        assert key in test.stdout
    assert list(work_dir.glob("eval_*.json"))
