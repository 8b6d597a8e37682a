"""A v3 Cascade Mask R-CNN R50-FPN config (mmdet 3.3 layout, ``tests/v3/mmdet3_tree.py``)
trains on the Cityscapes sample, evaluates with ``CocoMetric``, and gives the same losses as
the equivalent v2 config (detkit's ``configs/_base_`` files) with the same seed.

Where v3's semantics differ, the v2 config says so: MMEngine's ``LinearLR(begin=0, end=500)``
reaches the full LR at step 499, so the v2 equivalent has ``warmup_iters=499`` (mmdet 3.3's
configs write ``end=500`` where mmdet 2's wrote ``warmup_iters=500``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tiny_v3 import OPTIONS, V3_CHILD, VAL_ANN

import detkit

REPO = Path(__file__).resolve().parents[2]
TRAIN_ANN = "annotations/instancesonly_filtered_gtFine_train.json"

V2_CHILD = """\
_base_ = ['{repo}/configs/_base_/models/cascade_mask_rcnn_r50_fpn.py',
          '{repo}/configs/_base_/datasets/cityscapes_instance.py',
          '{repo}/configs/_base_/schedules/schedule_1x.py',
          '{repo}/configs/_base_/default_runtime.py']
root = '{root}/'
model = dict(backbone=dict(init_cfg=None), roi_head=dict(mask_head=dict(num_classes=8)))
data = dict(
    workers_per_gpu=0,
    train=dict(times=1, dataset=dict(ann_file=root + '{train_ann}',
                                     img_prefix=root + 'leftImg8bit/train/')),
    val=dict(ann_file=root + '{val_ann}', img_prefix=root + 'leftImg8bit/val/'),
    test=dict(ann_file=root + '{val_ann}', img_prefix=root + 'leftImg8bit/val/'))
optimizer = dict(lr=0.01)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(warmup_iters=499)  # v3's LinearLR(end=500): full LR at step 499
runner = dict(max_epochs=2)
log_config = dict(interval=1)
"""


def _train(config: Path, work_dir: Path) -> list[dict[str, Any]]:
    cfg = detkit.Config.fromfile(config)
    cfg.merge_from_dict(OPTIONS)
    cfg.work_dir = str(work_dir)
    detkit.setup_training(cfg, seed=0).train(validate=True)
    (log,) = work_dir.glob("*.log.json")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "data_time")} for r in records[1:]]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_v3_cascade_mask_rcnn_trains_like_the_v2_config(tmp_path, mmdet3_tree, sample_root):
    v3 = tmp_path / "v3_cascade.py"
    v3.write_text(V3_CHILD.format(tree=mmdet3_tree, root=sample_root, val_ann=VAL_ANN))
    v2 = tmp_path / "v2_cascade.py"
    v2.write_text(
        V2_CHILD.format(repo=REPO, root=sample_root, val_ann=VAL_ANN, train_ann=TRAIN_ANN)
    )
    v3_records = _train(v3, tmp_path / "v3")
    v2_records = _train(v2, tmp_path / "v2")
    train = [r for r in v3_records if r["mode"] == "train"]
    assert len(train) == 4 and all(r["loss"] > 0 for r in train)  # 2 epochs of 2 images
    val = [r for r in v3_records if r["mode"] == "val"]
    assert len(val) == 2 and {"bbox_mAP", "segm_mAP"} <= set(val[0])  # CocoMetric
    assert v3_records == v2_records
