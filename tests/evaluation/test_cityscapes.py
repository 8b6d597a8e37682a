"""Official Cityscapes instance evaluation on a tiny Cityscapes-format tree."""

from __future__ import annotations

import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from detkit.evaluation.cityscapes import evaluate_cityscapes, gt_instance_file, results2txt

CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
LABEL_IDS = (24, 25, 26, 27, 28, 31, 32, 33)
H, W = 64, 128
# per image: instance id -> (y1, y2, x1, x2); label id = instance id // 1000
INSTANCES = [
    {24000: (5, 40, 10, 30), 24001: (10, 60, 40, 60), 26000: (20, 50, 70, 120)},
    {26000: (0, 30, 0, 50), 33000: (30, 64, 60, 100)},
]
FILENAMES = [
    "testcity/testcity_000000_000001_leftImg8bit.png",
    "testcity/testcity_000000_000002_leftImg8bit.png",
]


def make_tree(root) -> str:
    for name, instances in zip(FILENAMES, INSTANCES):
        image = root / "leftImg8bit" / "val" / name
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(image)
        ids = np.full((H, W), 7, np.uint16)  # road
        for inst_id, (y1, y2, x1, x2) in instances.items():
            ids[y1:y2, x1:x2] = inst_id
        gt = root / "gtFine" / "val" / name.replace("leftImg8bit", "gtFine_instanceIds")
        gt.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids).save(gt)
    return str(root / "leftImg8bit" / "val")


def results_from_gt(img_prefix: str, drop: int | None = None) -> list:
    """Perfect (bbox_results, segm_results) read back from the gt instance PNGs."""
    results = []
    for name in FILENAMES:
        ids = np.array(Image.open(gt_instance_file(img_prefix, name)))
        bboxes = [[] for _ in CLASSES]
        segms = [[] for _ in CLASSES]
        for inst_id in np.unique(ids):
            if inst_id < 1000 or inst_id == drop:
                continue
            label = LABEL_IDS.index(inst_id // 1000)
            mask = ids == inst_id
            ys, xs = np.nonzero(mask)
            bboxes[label].append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.95])
            segms[label].append(mask)
        bbox_results = [np.asarray(b, np.float32).reshape(-1, 5) for b in bboxes]
        results.append((bbox_results, segms))
    return results


def test_gt_instance_file_maps_leftimg8bit_to_gtfine():
    path = gt_instance_file("data/cityscapes/leftImg8bit/val", FILENAMES[0])
    assert (
        path == "data/cityscapes/gtFine/val/testcity/testcity_000000_000001_gtFine_instanceIds.png"
    )
    with pytest.raises(ValueError, match="not under a Cityscapes 'leftImg8bit' folder"):
        gt_instance_file("data/images", "a.png")


def test_perfect_predictions_give_ap_one_and_leave_no_stray_files(tmp_path, capsys):
    img_prefix = make_tree(tmp_path / "cityscapes")
    cwd = os.getcwd()
    metrics = evaluate_cityscapes(results_from_gt(img_prefix), FILENAMES, CLASSES, img_prefix)
    assert metrics == {"mAP": 1.0, "AP@50": 1.0}
    assert os.getcwd() == cwd
    assert not osp.exists(osp.join(cwd, "matches.json"))
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval

    assert cs_eval.args.predictionPath is None  # the module's settings are untouched
    assert not osp.exists(cs_eval.args.gtInstancesFile)
    assert "average" in capsys.readouterr().out


def test_a_missed_instance_lowers_ap(tmp_path):
    img_prefix = make_tree(tmp_path / "cityscapes")
    out_dir = tmp_path / "preds"
    # drop person 24001 of image 1: person recall 1/2 at every overlap -> person AP 0.5
    metrics = evaluate_cityscapes(
        results_from_gt(img_prefix, drop=24001),
        FILENAMES,
        CLASSES,
        img_prefix,
        str(out_dir),
        logger="silent",
    )
    assert metrics["mAP"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert metrics["AP@50"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    pred_txt = (out_dir / "testcity_000000_000001_leftImg8bit_pred.txt").read_text().splitlines()
    assert pred_txt == [
        "testcity_000000_000001_leftImg8bit_0_person.png 24 0.949999988079071",
        "testcity_000000_000001_leftImg8bit_1_car.png 26 0.949999988079071",
    ]


def test_script_errors_become_runtime_errors(tmp_path):
    img_prefix = make_tree(tmp_path / "cityscapes")
    out_dir = tmp_path / "preds"
    out_dir.mkdir()
    (out_dir / "testcity_000000_000001_other_pred.txt").write_text("")
    with pytest.raises(RuntimeError, match="Found multiple predictions"):
        evaluate_cityscapes(
            results_from_gt(img_prefix), FILENAMES, CLASSES, img_prefix, str(out_dir)
        )


def test_missing_ground_truth_and_bad_classes(tmp_path):
    img_prefix = make_tree(tmp_path / "cityscapes")
    with pytest.raises(FileNotFoundError, match="ground-truth files not found"):
        evaluate_cityscapes(
            results_from_gt(img_prefix),
            ["testcity/testcity_000000_000009_leftImg8bit.png"] * 2,
            CLASSES,
            img_prefix,
        )
    with pytest.raises(KeyError, match="'cat' is not a Cityscapes label"):
        results2txt(results_from_gt(img_prefix), FILENAMES, ("cat",) * 8, str(tmp_path / "x"))
