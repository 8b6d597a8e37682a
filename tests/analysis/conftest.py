"""A tiny Cityscapes-format sample (2 train, 3 val images; val image 1 has no objects), a
tiny Cascade Mask R-CNN config over it and its random-weight checkpoint."""

from __future__ import annotations

import pytest
import torch

import detkit

from analysis_helpers import REPO

DEMO_CONFIG = REPO / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
# the demo model with 16-channel ResNet-18 / neck on 256x128 images (as tests/tools/test_test_cli.py)
TINY_CONFIG = """
_base_ = {base!r}
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        mask_roi_extractor=dict(out_channels=16),
        bbox_head=[dict(type='Shared2FCBBoxHead', in_channels=16, fc_out_channels=32,
                        roi_feat_size=7, num_classes=8, reg_class_agnostic=True,
                        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                        target_stds=[0.1, 0.1, 0.2, 0.2]),
                        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))] * 3,
        mask_head=dict(in_channels=16, conv_out_channels=16)),
    test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=50), rcnn=dict(score_thr=0.0, max_per_img=20)),
)
img_scale = (256, 128)
data_root = {root!r}
data = dict(
    workers_per_gpu=0,
    train=dict(times=1, dataset=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_train.json',
                                     img_prefix=data_root + 'leftImg8bit/train/')),
    val=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
             img_prefix=data_root + 'leftImg8bit/val/'),
    test=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
              img_prefix=data_root + 'leftImg8bit/val/'),
)
"""
CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


@pytest.fixture(scope="package")
def tiny(tmp_path_factory) -> dict[str, str]:
    """``root``, ``config``, ``checkpoint`` and ``val_ann`` of the tiny sample."""
    root = tmp_path_factory.mktemp("tiny_analysis")
    detkit.generate_cityscapes_sample(root, train=2, val=3, test=0, size=(256, 128), seed=2)
    detkit.convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False)
    config = root / "tiny_cascade.py"
    config.write_text(TINY_CONFIG.format(base=str(DEMO_CONFIG), root=str(root) + "/"))
    cfg = detkit.Config.fromfile(str(config))
    detkit.set_img_scale(cfg, (256, 128))
    cfg.dump(str(config))
    torch.manual_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    checkpoint = root / "tiny.pth"
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=CLASSES))
    return dict(root=str(root), config=str(config), checkpoint=str(checkpoint),
                val_ann=str(root / "annotations/instancesonly_filtered_gtFine_val.json"))


@pytest.fixture(scope="package")
def val_dataset(tiny):
    cfg = detkit.Config.fromfile(tiny["config"])
    return detkit.build_dataset(cfg.data.test, dict(test_mode=True))
