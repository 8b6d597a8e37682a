"""The tiny v3 Cascade Mask R-CNN config of the v3 tests (a child of the mmdet-3.3-style tree)
and the shrinking options shared with its v2 twin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from tiny_demo import TINY_CHANNELS_OPTIONS, TINY_DEMO_OPTIONS  # noqa: E402

VAL_ANN = "annotations/instancesonly_filtered_gtFine_val.json"

V3_CHILD = """\
_base_ = ['{tree}/_base_/models/cascade-mask-rcnn_r50_fpn.py',
          '{tree}/_base_/datasets/cityscapes_instance.py',
          '{tree}/_base_/schedules/schedule_1x.py', '{tree}/_base_/default_runtime.py']
root = '{root}/'
model = dict(backbone=dict(init_cfg=None), roi_head=dict(mask_head=dict(num_classes=8)))
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(times=1, dataset=dict(data_root=root)))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=root))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='CocoMetric', ann_file=root + '{val_ann}', metric=['bbox', 'segm'])
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1))
"""

# the same shrinking for both (internal keys: both configs translate to the same layout)
OPTIONS: dict[str, Any] = {
    **TINY_CHANNELS_OPTIONS,
    "model.backbone.depth": 18,  # the tiny channel options are for ResNet-18 widths
    "model.roi_head.bbox_head": TINY_DEMO_OPTIONS["model.roi_head.bbox_head"],
    "data.train.dataset.pipeline.2.img_scale": [(256, 100), (256, 128)],
    "data.val.pipeline.1.img_scale": (256, 128),
}
