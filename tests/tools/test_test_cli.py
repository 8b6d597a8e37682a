"""tools/test.py on a tiny checkpoint and a tiny generated Cityscapes-format sample."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample
from detkit.evaluation import evaluate_coco

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = (
    REPO / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
)
# The demo model shrunk further (ResNet-18 with 16 base channels and a 16-channel neck, as the
# golden config) on 256x128 images; a test threshold of 0 keeps detections from random weights.
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
    val=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
             img_prefix=data_root + 'leftImg8bit/val/'),
    test=dict(ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
              img_prefix=data_root + 'leftImg8bit/val/'),
)
"""


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    """A 3-image val split (+1 unannotated test image), a tiny config and its checkpoint."""
    root = tmp_path_factory.mktemp("tiny_cityscapes")
    generate_cityscapes_sample(root, train=0, val=3, test=1, size=(256, 128), seed=2)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False)
    config = root / "tiny_cascade.py"
    config.write_text(TINY_CONFIG.format(base=str(DEMO_CONFIG), root=str(root) + "/"))
    detkit.set_img_scale(cfg := detkit.Config.fromfile(str(config)), (256, 128))
    cfg.dump(str(config))
    torch.manual_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    checkpoint = root / "tiny.pth"
    classes = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=classes))
    return dict(root=str(root), config=str(config), checkpoint=str(checkpoint))


def test_eval_prints_tables_and_writes_eval_json(tiny, tmp_path, capsys):
    test_tool = load_tool("test")
    out = tmp_path / "results.pkl"
    metric = test_tool.main(
        [
            tiny["config"],
            tiny["checkpoint"],
            "--eval",
            "bbox",
            "segm",
            "--out",
            str(out),
            "--eval-options",
            "classwise=True",
            "--work-dir",
            str(tmp_path / "work"),
        ]
    )
    printed = capsys.readouterr().out
    assert printed.count("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all") == 2
    assert "bicycle" in printed  # the per-class table
    (eval_json,) = (tmp_path / "work").glob("eval_*.json")
    saved = json.loads(eval_json.read_text())
    assert saved["config"] == tiny["config"]
    assert saved["metric"] == metric
    for key in (
        "bbox_mAP",
        "bbox_mAP_50",
        "bbox_mAP_75",
        "segm_mAP",
        "segm_mAP_l",
        "bbox_mAP_copypaste",
    ):
        assert key in metric
    # the pickled results are what was evaluated: 3 images, per-class lists, RLE masks
    results = pickle.loads(out.read_bytes())
    assert len(results) == 3
    bbox_results, segm_results = results[0]
    assert len(bbox_results) == 8 and all(b.shape[1] == 5 for b in bbox_results)
    assert sum(len(b) for b in bbox_results) > 0
    rle = next(m for per_class in segm_results for m in per_class)
    assert rle["size"] == [128, 256] and isinstance(rle["counts"], bytes)
    again = evaluate_coco(
        results,
        os.path.join(tiny["root"], "annotations/instancesonly_filtered_gtFine_val.json"),
        ["bbox", "segm"],
        logger="silent",
    )
    assert again["bbox_mAP"] == metric["bbox_mAP"] and again["segm_mAP"] == metric["segm_mAP"]


def test_fuse_conv_bn_gives_the_same_detections(tiny, tmp_path):
    test_tool = load_tool("test")
    plain, fused = tmp_path / "plain.pkl", tmp_path / "fused.pkl"
    test_tool.main([tiny["config"], tiny["checkpoint"], "--out", str(plain)])
    test_tool.main([tiny["config"], tiny["checkpoint"], "--out", str(fused), "--fuse-conv-bn"])
    for ours, ref in zip(pickle.loads(fused.read_bytes()), pickle.loads(plain.read_bytes())):
        for ours_cls, ref_cls in zip(ours[0], ref[0]):
            assert ours_cls.shape == ref_cls.shape
            np.testing.assert_allclose(ours_cls, ref_cls, rtol=1e-4, atol=1e-3)


def test_format_only_show_dir_and_cityscapes_metric(tiny, tmp_path):
    test_tool = load_tool("test")
    prefix = tmp_path / "json" / "res"
    test_tool.main(
        [
            tiny["config"],
            tiny["checkpoint"],
            "--format-only",
            "--eval-options",
            f"jsonfile_prefix={prefix}",
            "--show-dir",
            str(tmp_path / "shown"),
            "--show-score-thr",
            "0.0",
        ]
    )
    entries = json.loads(Path(f"{prefix}.segm.json").read_text())
    assert entries and {"image_id", "bbox", "score", "category_id", "segmentation"} <= set(
        entries[0]
    )
    drawn = sorted(p.name for p in (tmp_path / "shown").rglob("*.png"))
    assert len(drawn) == 3
    metric = test_tool.main([tiny["config"], tiny["checkpoint"], "--eval", "cityscapes"])
    assert set(metric) == {"mAP", "AP@50"} and 0.0 <= metric["mAP"] <= 1.0


def test_argument_errors_and_unannotated_split(tiny, tmp_path):
    test_tool = load_tool("test")
    with pytest.raises(SystemExit):
        test_tool.parse_args([tiny["config"], tiny["checkpoint"]])  # nothing to do
    with pytest.raises(SystemExit):
        test_tool.parse_args(
            [tiny["config"], tiny["checkpoint"], "--eval", "bbox", "--format-only"]
        )
    with pytest.raises(SystemExit):
        test_tool.parse_args([tiny["config"], tiny["checkpoint"], "--out", "results.json"])
    test_ann = os.path.join(tiny["root"], "annotations/instancesonly_filtered_gtFine_test.json")
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/test.py"),
            tiny["config"],
            tiny["checkpoint"],
            "--eval",
            "bbox",
            "--cfg-options",
            f"data.test.ann_file={test_ann}",
            f"data.test.img_prefix={tiny['root']}/leftImg8bit/test/",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 1
    assert f"{test_ann} has no annotations; use --format-only" in run.stderr


@pytest.mark.slow
def test_two_process_test_gathers_results_in_dataset_order(tiny, tmp_path):
    single = tmp_path / "single.pkl"
    load_tool("test").main([tiny["config"], tiny["checkpoint"], "--out", str(single)])
    multi = tmp_path / "multi.pkl"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(REPO / "tools/test.py"),
            tiny["config"],
            tiny["checkpoint"],
            "--out",
            str(multi),
            "--launcher",
            "pytorch",
            "--cfg-options",
            "dist_params.backend=gloo",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    expected = pickle.loads(single.read_bytes())
    gathered = pickle.loads(multi.read_bytes())
    assert len(gathered) == len(expected) == 3
    for (boxes_a, masks_a), (boxes_b, masks_b) in zip(gathered, expected):
        for a, b in zip(boxes_a, boxes_b):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
        assert masks_a == masks_b


def test_infer_cli_draws_a_folder_and_writes_json(tiny, tmp_path):
    infer_tool = load_tool("infer")
    images = os.path.join(tiny["root"], "leftImg8bit", "val")
    json_file = infer_tool.main(
        [
            tiny["config"],
            tiny["checkpoint"],
            images,
            "--out-dir",
            str(tmp_path / "out"),
            "--score-thr",
            "0.0",
            "--batch-size",
            "2",
        ]
    )
    records = json.loads(Path(json_file).read_text())
    assert len(records) == 3
    assert all((tmp_path / "out" / r["file"]).is_file() for r in records)
    assert all(d["score"] >= 0.0 and len(d["bbox"]) == 4 for r in records for d in r["detections"])
    with pytest.raises(FileNotFoundError, match="no image file or folder"):
        infer_tool.main(
            [
                tiny["config"],
                tiny["checkpoint"],
                str(tmp_path / "missing"),
                "--out-dir",
                str(tmp_path),
            ]
        )
