"""COCO evaluation on tiny hand-made annotation files with exact expected mAPs."""

from __future__ import annotations

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest

from detkit.evaluation.coco import evaluate_coco, load_coco
from detkit.evaluation.coco_format import encode_mask_results, results2json

H, W = 120, 200
# (image id, category id, xyxy box)
GT = [
    (1, 24, (10, 10, 110, 110)),
    (1, 26, (120, 20, 180, 100)),
    (2, 24, (30, 5, 90, 115)),
]
CAT_IDS = [24, 26]


def box_mask(box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return mask


def write_coco(path, with_annotations: bool = True, first_ann_id: int = 1) -> str:
    annotations = []
    for ann_id, (img_id, cat_id, box) in enumerate(GT, start=first_ann_id):
        rle = mask_util.encode(np.asfortranarray(box_mask(box)[:, :, None].astype(np.uint8)))[0]
        x1, y1, x2, y2 = box
        annotations.append(
            dict(
                id=ann_id,
                image_id=img_id,
                category_id=cat_id,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                area=float((x2 - x1) * (y2 - y1)),
                iscrowd=0,
                segmentation=dict(size=[H, W], counts=rle["counts"].decode()),
            )
        )
    data = dict(
        images=[
            dict(id=1, file_name="a.png", height=H, width=W),
            dict(id=2, file_name="b.png", height=H, width=W),
        ],
        categories=[dict(id=24, name="person"), dict(id=26, name="car")],
    )
    if with_annotations:  # as the Cityscapes converter, leave the key out for a test split
        data["annotations"] = annotations
    file = path / ("ann.json" if with_annotations else "test.json")
    file.write_text(json.dumps(data))
    return str(file)


def perfect_results(shift: float = 0.0) -> list[tuple[list[np.ndarray], list[list]]]:
    """One (bbox_results, segm_results) per image; boxes moved right by ``shift``."""
    results = []
    for img_id in (1, 2):
        bboxes: list[list[list[float]]] = [[], []]
        segms: list[list[np.ndarray]] = [[], []]
        for gt_img, cat_id, box in GT:
            if gt_img != img_id:
                continue
            label = CAT_IDS.index(cat_id)
            moved = (box[0] + shift, box[1], box[2] + shift, box[3])
            bboxes[label].append([*moved, 0.9])
            segms[label].append(box_mask(tuple(int(v) for v in moved)))
        results.append(([np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in bboxes], segms))
    return results


def test_perfect_predictions_give_map_one(tmp_path, capsys):
    ann_file = write_coco(tmp_path)
    metrics = evaluate_coco(perfect_results(), ann_file, metric=["bbox", "segm"], classwise=True)
    for name in ("bbox", "segm"):
        assert metrics[f"{name}_mAP"] == 1.0
        assert metrics[f"{name}_mAP_50"] == 1.0
        assert metrics[f"{name}_mAP_75"] == 1.0
        assert metrics[f"{name}_mAP_s"] == -1.0  # no small object (area < 32^2)
        assert metrics[f"{name}_mAP_m"] == 1.0  # the car: 60 x 80 = 4800
        assert metrics[f"{name}_mAP_l"] == 1.0
        assert metrics[f"{name}_mAP_copypaste"] == "1.000 1.000 1.000 -1.000 1.000 1.000"
        assert metrics[f"{name}_AP_person"] == 1.0 and metrics[f"{name}_AP_car"] == 1.0
    out = capsys.readouterr().out
    assert out.count("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all") == 2
    assert out.count("Average Recall") == 12  # 6 AR lines per table
    assert "person" in out and "car" in out and "1.000" in out  # classwise table


def test_annotation_id_zero_still_matches(tmp_path):
    # pycocotools alone would drop the match with annotation id 0 (a false positive + a miss)
    ann_file = write_coco(tmp_path, first_ann_id=0)
    metrics = evaluate_coco(perfect_results(), ann_file, metric=["bbox", "segm"], logger="silent")
    assert metrics["bbox_mAP"] == 1.0 and metrics["segm_mAP"] == 1.0


def test_classwise_leaves_out_categories_without_ground_truth(tmp_path):
    ann_file = write_coco(tmp_path)
    data = json.loads(open(ann_file).read())
    data["categories"].insert(1, dict(id=25, name="rider"))
    with open(ann_file, "w") as f:
        json.dump(data, f)
    results = [
        (b[:1] + [np.zeros((0, 5), np.float32)] + b[1:], s[:1] + [[]] + s[1:])
        for b, s in perfect_results()
    ]
    metrics = evaluate_coco(results, ann_file, "bbox", classwise=True, logger="silent")
    assert metrics["bbox_mAP"] == 1.0
    assert metrics["bbox_AP_person"] == 1.0 and metrics["bbox_AP_car"] == 1.0
    assert "bbox_AP_rider" not in metrics


def test_shifted_boxes_match_only_low_iou_thresholds(tmp_path):
    # person 1: 100 x 100 moved 20 px -> IoU 80/120 = 0.667: matched for thresholds
    # 0.50, 0.55, 0.60, 0.65 (4 of 10). The car (60 wide) moved 20 -> IoU 40/80 = 0.5,
    # person 2 (60 wide) -> 0.5 as well: matched at 0.50 only (1 of 10).
    ann_file = write_coco(tmp_path)
    metrics = evaluate_coco(perfect_results(shift=20.0), ann_file, metric="bbox", classwise=True)
    # person: 2 gts, both matched at 0.5; at 0.55..0.65 only the first -> AP 0.5 there
    # (one of two recalled, precision 1 up to recall 0.5 on 101 points: 51/101).
    person = (1.0 + 3 * 51 / 101) / 10
    car = 1.0 / 10
    assert metrics["bbox_mAP_50"] == 1.0
    assert metrics["bbox_mAP_75"] == 0.0
    assert metrics["bbox_mAP"] == round((person + car) / 2, 4)
    assert metrics["bbox_AP_person"] == round(person, 4)
    assert metrics["bbox_AP_car"] == round(car, 4)


def test_segm_uses_mask_area_and_ignores_the_box(tmp_path):
    # boxes right, masks all wrong -> bbox perfect, segm zero
    ann_file = write_coco(tmp_path)
    results = perfect_results()
    for _, segms in results:
        for per_class in segms:
            for i, mask in enumerate(per_class):
                per_class[i] = ~mask
    metrics = evaluate_coco(results, ann_file, metric=["bbox", "segm"], logger="silent")
    assert metrics["bbox_mAP"] == 1.0
    assert metrics["segm_mAP"] == 0.0


def test_empty_results_report_zero_with_a_clear_message(tmp_path, capsys):
    ann_file = write_coco(tmp_path)
    empty = [([np.zeros((0, 5), np.float32)] * 2, [[], []]) for _ in range(2)]
    metrics = evaluate_coco(empty, ann_file, metric=["bbox", "segm"])
    assert metrics["bbox_mAP"] == 0.0 and metrics["segm_mAP"] == 0.0
    out = capsys.readouterr().out
    assert "bbox: the testing results of the whole dataset are empty" in out
    assert "segm: the testing results of the whole dataset are empty" in out


def test_split_without_annotations_is_an_error(tmp_path):
    ann_file = write_coco(tmp_path, with_annotations=False)
    with pytest.raises(ValueError, match=r"test\.json has no annotations; use --format-only"):
        evaluate_coco(perfect_results(), ann_file, metric="bbox")


def test_wrong_number_of_results_and_unknown_metric(tmp_path):
    ann_file = write_coco(tmp_path)
    with pytest.raises(ValueError, match="got 1 results for 2 images"):
        evaluate_coco(perfect_results()[:1], ann_file, metric="bbox")
    with pytest.raises(KeyError, match="metric 'mask' is not supported"):
        evaluate_coco(perfect_results(), ann_file, metric="mask")


def test_results2json_writes_xywh_boxes_and_str_rle(tmp_path):
    ann_file = write_coco(tmp_path)
    coco = load_coco(ann_file)
    files = results2json(perfect_results(), coco.getImgIds(), CAT_IDS, str(tmp_path / "res"))
    assert files["bbox"] == str(tmp_path / "res.bbox.json")
    assert files["segm"] == str(tmp_path / "res.segm.json")
    bbox_entries = json.loads((tmp_path / "res.bbox.json").read_text())
    assert bbox_entries[0] == dict(
        image_id=1, bbox=[10.0, 10.0, 100.0, 100.0], score=pytest.approx(0.9), category_id=24
    )
    segm_entries = json.loads((tmp_path / "res.segm.json").read_text())
    assert len(segm_entries) == 3
    assert isinstance(segm_entries[0]["segmentation"]["counts"], str)
    decoded = mask_util.decode(segm_entries[0]["segmentation"])
    assert decoded.sum() == 100 * 100


def test_encode_mask_results_keeps_rle_and_encodes_arrays():
    rle = mask_util.encode(np.asfortranarray(np.ones((4, 5, 1), np.uint8)))[0]
    encoded = encode_mask_results([[np.eye(4, 5, dtype=bool), rle], []])
    assert encoded[0][1] is rle
    assert encoded[0][0]["size"] == [4, 5]
    assert mask_util.area(encoded[0][0]) == 4
    with pytest.raises(ValueError, match="2-D array"):
        encode_mask_results([[np.zeros((2, 2, 2))]])
