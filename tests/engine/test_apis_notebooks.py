"""Notebooks 04 (train + evaluate) and 05 (inference) under papermill with tiny parameters:
a 16-channel model trained for a few iterations on a generated 128x64 sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
BBOX_HEAD = dict(
    type="Shared2FCBBoxHead", in_channels=16, fc_out_channels=32, roi_feat_size=7, num_classes=8,
    reg_class_agnostic=True,
    bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),
)
TINY_MODEL = {
    "model.backbone.base_channels": 16,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 16,
    "model.rpn_head.in_channels": 16,
    "model.rpn_head.feat_channels": 16,
    "model.roi_head.bbox_roi_extractor.out_channels": 16,
    "model.roi_head.mask_roi_extractor.out_channels": 16,
    "model.roi_head.bbox_head": [BBOX_HEAD] * 3,
    "model.roi_head.mask_head.in_channels": 16,
    "model.roi_head.mask_head.conv_out_channels": 16,
    "model.test_cfg.rcnn.score_thr": 0.0,
    "model.test_cfg.rcnn.max_per_img": 20,
    "data.workers_per_gpu": 0,
    "log_config.interval": 1,
}


@pytest.mark.notebook
@pytest.mark.slow
def test_train_evaluate_then_infer_notebooks(tmp_path):
    import papermill

    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=4, val=2, test=0, size=(128, 64), seed=11)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val"))
    work_dir = tmp_path / "work"
    papermill.execute_notebook(
        str(REPO / "nbs/04_train_and_evaluate.ipynb"), str(tmp_path / "04.ipynb"),
        parameters=dict(
            config=DEMO_CONFIG, data_root=str(root), work_dir=str(work_dir), max_epochs=1, times=1,
            img_scale=[128, 64], samples_per_gpu=2, cfg_options=TINY_MODEL,
        ),
        kernel_name="detkit", cwd=str(REPO),
    )
    (eval_json,) = work_dir.glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    assert {"bbox_mAP", "segm_mAP", "bbox_AP_person"} <= set(metric)
    assert (work_dir / "latest.pth").exists()
    assert len(list((work_dir / "val_results").rglob("*.png"))) == 2

    papermill.execute_notebook(
        str(REPO / "nbs/05_inference.ipynb"), str(tmp_path / "05.ipynb"),
        parameters=dict(
            config=str(work_dir / Path(DEMO_CONFIG).name), checkpoint=str(work_dir / "latest.pth"),
            images=str(root / "leftImg8bit" / "val"), out_dir=str(tmp_path / "inference"),
            num_images=2, score_thr=0.0,
        ),
        kernel_name="detkit", cwd=str(tmp_path),
    )
    records = json.loads((tmp_path / "inference" / "detections.json").read_text())
    assert len(records) == 2
    executed = json.loads((tmp_path / "05.ipynb").read_text())
    outputs = "".join(
        "".join(o.get("text", "")) for cell in executed["cells"] for o in cell.get("outputs", [])
    )
    assert "ms per image on cpu" in outputs
