"""MMDetection 3.3's Faster / Mask / Cascade (Mask) R-CNN R50-FPN COCO and Cityscapes configs
(written in tests/v3/mmdet3_tree.py with their keys) build, train and test in detkit without
edits (tiny widths and the sample's paths given as options); the pure-Python style and
``mmdet::`` bases load to the same config; the schedule equals MMEngine's own schedulers'."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmdet3_tree import CITYSCAPES_CONFIGS, TOP_CONFIGS
from tiny_v3 import OPTIONS

import detkit
from detkit.config.v3 import ConfigTranslationError
from detkit.engine.optim import build_optimizer, lr_hook_config
from detkit.registry import HOOKS, build

TRAIN = "annotations/instancesonly_filtered_gtFine_train.json"
VAL = "annotations/instancesonly_filtered_gtFine_val.json"
CITYSCAPES_CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


def _sample_options(cfg: detkit.Config, root: Path) -> dict:
    train_key = "data.train.dataset" if "dataset" in cfg.data.train else "data.train"
    options = {
        f"{train_key}.data_root": str(root),
        f"{train_key}.ann_file": TRAIN,
        f"{train_key}.img_prefix": "leftImg8bit/train",
        "data.samples_per_gpu": 1,
        "data.workers_per_gpu": 0,
        "data.persistent_workers": False,
        "data.val_dataloader.workers_per_gpu": 0,
        "runner.max_epochs": 1,
        "load_from": None,
        "model.backbone.init_cfg": None,  # no download (COCO configs keep torchvision://)
        "log_config.interval": 1,
        **{k: v for k, v in OPTIONS.items() if "pipeline" not in k},
        f"{train_key}.pipeline.2.img_scale": (256, 128),
        "data.val.pipeline.1.img_scale": (256, 128),
    }
    for split in ("val", "test"):
        options.update(
            {f"data.{split}.data_root": str(root), f"data.{split}.ann_file": VAL,
             f"data.{split}.img_prefix": "leftImg8bit/val"}
        )  # fmt: skip
    if "dataset" in cfg.data.train:
        options["data.train.times"] = 1
    else:  # a COCO config on the Cityscapes sample: its 8 classes (v3: metainfo.classes)
        for key in (train_key, "data.val", "data.test"):
            options[f"{key}.classes"] = list(CITYSCAPES_CLASSES)
    if "mask_head" not in cfg.model.roi_head:
        for key in [k for k in options if "mask" in k]:
            options.pop(key)
    if cfg.model.type != "CascadeRCNN":
        options["model.roi_head.bbox_head"] = OPTIONS["model.roi_head.bbox_head"][0]
    return options


@pytest.mark.parametrize("name", [*TOP_CONFIGS, *CITYSCAPES_CONFIGS])
def test_mmdet33_config_trains_and_tests(name, mmdet3_tree, sample_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # CityScapesMetric's outfile_prefix is relative
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = detkit.Config.fromfile(mmdet3_tree / name)
    cfg.merge_from_dict(_sample_options(cfg, sample_root))
    cfg.work_dir = str(tmp_path / "work")
    runner = detkit.setup_training(cfg, seed=0).train(validate=True)
    assert runner.iter == 2  # one epoch of the 2 sample images
    (log,) = (tmp_path / "work").glob("*.log.json")
    val = [json.loads(line) for line in log.read_text().splitlines() if '"mode": "val"' in line]
    masks = "mask" in name
    assert len(val) == 1 and "bbox_mAP" in val[0] and ("segm_mAP" in val[0]) == masks
    assert ("mAP" in val[0]) == name.endswith("mask-rcnn_r50_fpn_1x_cityscapes.py")
    results = detkit.evaluate_detector(
        runner.model, cfg, metric=cfg.evaluation.metric, split="test", classwise=False
    )
    assert "bbox_mAP" in results and ("segm_mAP" in results) == masks


def test_pure_python_config_equals_the_text_config(mmdet3_tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = detkit.Config.fromfile(mmdet3_tree / CITYSCAPES_CONFIGS[1])
        pure = detkit.Config.fromfile(
            mmdet3_tree.parent / "mmdet/configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py"
        )
    assert pure.model.backbone.norm_cfg.type == "BN"  # torch.nn.BatchNorm2d -> mmcv's name
    assert pure.to_dict() == text.to_dict()


def test_mmdet_scope_bases(mmdet3_tree, tmp_path, monkeypatch):
    child = tmp_path / "mine.py"
    child.write_text(
        "_base_ = 'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py'\n"
        "train_cfg = dict(max_epochs=3)\n"
    )
    monkeypatch.delenv("DETKIT_MMDET_ROOT", raising=False)
    with pytest.raises(FileNotFoundError, match="set DETKIT_MMDET_ROOT to a checkout"):
        detkit.Config.fromfile(child)
    monkeypatch.setenv("DETKIT_MMDET_ROOT", str(mmdet3_tree.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = detkit.Config.fromfile(child)
    assert cfg.runner == {"type": "EpochBasedRunner", "max_epochs": 3}
    assert cfg.model.roi_head.mask_head.num_classes == 8


def _detkit_lrs(lr_config: dict, epochs: int, per_epoch: int) -> list[float]:
    optimizer = build_optimizer(torch.nn.Linear(2, 2), dict(type="SGD", lr=0.02))
    hook = build(lr_hook_config(lr_config), HOOKS)
    runner = SimpleNamespace(
        optimizer=optimizer, epoch=0, iter=0, max_epochs=epochs,
        max_iters=epochs * per_epoch, data_loader=range(per_epoch),
    )  # fmt: skip
    hook.before_run(runner)
    lrs = []
    for runner.epoch in range(epochs):
        hook.before_train_epoch(runner)
        for _ in range(per_epoch):
            hook.before_train_iter(runner)
            lrs.append(optimizer.param_groups[0]["lr"])
            runner.iter += 1
    return lrs


def _mmengine_lrs(schedulers: list[dict], epochs: int, per_epoch: int) -> list[float]:
    """LRs from MMEngine's own scheduler classes, stepped as its ParamSchedulerHook does."""
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR, MultiStepLR

    classes = {
        "LinearLR": LinearLR,
        "MultiStepLR": MultiStepLR,
        "CosineAnnealingLR": CosineAnnealingLR,
    }
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.02)
    built = [
        classes[s["type"]](optimizer, **{k: v for k, v in s.items() if k != "type"})
        for s in schedulers
    ]
    lrs = []
    for _ in range(epochs):
        for _ in range(per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            for s in built:
                if not s.by_epoch:
                    s.step()
        for s in built:
            if s.by_epoch:
                s.step()
    return lrs


@pytest.mark.parametrize(
    "schedulers",
    [
        [dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
         dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)],
        [dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=40),
         dict(type="CosineAnnealingLR", T_max=12, eta_min=0.0, begin=0, end=12, by_epoch=True)],
    ],
)  # fmt: skip
def test_schedule_equals_mmengine(schedulers, tmp_path):
    path = tmp_path / "schedule.py"
    path.write_text(
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)\n"
        f"param_scheduler = {schedulers!r}\n"
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02))\n"
    )
    cfg = detkit.Config.fromfile(path)
    ours, theirs = _detkit_lrs(cfg.lr_config, 12, 50), _mmengine_lrs(schedulers, 12, 50)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15)


def test_unsupported_keys_are_an_error_naming_them(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)\n"
        "param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, end=1),\n"
        "                   dict(type='PolyLR', eta_min=0.0, begin=0, end=12)]\n"
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02), accumulative_counts=2)\n"
    )
    with pytest.raises(ConfigTranslationError) as info:
        detkit.Config.fromfile(path)
    message = str(info.value)
    assert "3 MMDetection v3 key(s)" in message
    assert "param_scheduler.0: LinearLR by epoch" in message
    assert "param_scheduler.1: PolyLR" in message
    assert "optim_wrapper.accumulative_counts" in message
