"""The error browser's matching and error kinds: a hand-worked image pair, then agreement with
``coco_error_analysis`` (MMDetection v2 ``tools/analysis_tools/coco_error_analysis.py``, whose
curves come from COCOeval runs on "forgiving" ground truth) on simulated detections of a
generated Cityscapes-format split, boxes and masks, with and without supercategories."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

import detkit
from detkit.analysis.coco_error_counts import (
    DET_KINDS,
    breakdown,
    class_table,
    classify,
    confusion_counts,
    image_ap,
    image_counts,
)
from detkit.analysis.coco_error_matching import match_results
from detkit.data.synthetic.detections import simulate_results
from detkit.evaluation.coco import load_coco
from detkit.evaluation.coco_format import det2json, segm2json

CLASSES = ("car", "truck", "bus", "person")
SUPER = ("vehicle", "vehicle", "vehicle", "human")


def hand_coco() -> COCO:
    """Image 1: car A [0,0,100,100], truck B [200,0,100,100] (xywh), person C [0,200,50,100];
    image 2: a crowd region of cars [0,0,200,200]. Annotation ids start at 0 (as the
    Cityscapes converter writes them)."""
    anns = [
        (1, 1, [0, 0, 100, 100], 0),
        (1, 2, [200, 0, 100, 100], 0),
        (1, 4, [0, 200, 50, 100], 0),
        (2, 1, [0, 0, 200, 200], 1),
    ]
    dataset = {
        "images": [{"id": i, "width": 500, "height": 500, "file_name": f"{i}.png"} for i in (1, 2)],
        "categories": [
            {"id": k + 1, "name": n, "supercategory": s}
            for k, (n, s) in enumerate(zip(CLASSES, SUPER))
        ],
        "annotations": [
            {
                "id": n,
                "image_id": i,
                "category_id": c,
                "bbox": b,
                "area": b[2] * b[3],
                "iscrowd": crowd,
            }
            for n, (i, c, b, crowd) in enumerate(anns)
        ],
    }
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def boxes(*rows):
    return np.array(rows, np.float32).reshape(-1, 5)


# per image, per class (car, truck, bus, person): [x1, y1, x2, y2, score]
HAND_RESULTS = [
    [
        boxes([0, 0, 100, 100, 0.9], [5, 5, 100, 100, 0.8], [400, 400, 450, 450, 0.5]),
        boxes([260, 0, 360, 100, 0.6]),  # IoU 0.25 with the truck
        boxes([200, 0, 300, 100, 0.7]),  # a bus on the truck (same supercategory)
        boxes([0, 0, 100, 100, 0.65]),  # a person on the car
    ],
    [boxes([10, 10, 60, 60, 0.4], [300, 300, 350, 350, 0.3]), boxes(), boxes(), boxes()],
]
# what each detection is at IoU 0.5, by (class, score)
HAND_KINDS = {
    (0, 0.9): "tp",
    (0, 0.8): "duplicate",  # IoU 0.9025 with the car the 0.9 one matched
    (0, 0.5): "bg",
    (0, 0.4): "ignored",  # inside the crowd region
    (0, 0.3): "bg",
    (1, 0.6): "loc",
    (2, 0.7): "sim",
    (3, 0.65): "oth",
}


@pytest.fixture(scope="module")
def hand():
    coco = hand_coco()
    return coco, match_results(HAND_RESULTS, coco, [1, 2], [1, 2, 3, 4], "bbox", CLASSES)


def kinds_of(view) -> dict[tuple[int, float], str]:
    m = view.matching
    return {
        (int(label), round(float(score), 2)): DET_KINDS[k] if k >= 0 else "below"
        for label, score, k in zip(m.det_label, m.det_score, view.kind)
    }


def test_hand_worked_kinds_and_misses(hand):
    coco, matching = hand
    view = classify(matching, 0.5)
    assert kinds_of(view) == HAND_KINDS
    missed = {int(a) for a, miss in zip(matching.gt_ann_id, view.gt_missed) if miss}
    assert missed == {1, 2}  # the truck (only a loose box on it) and the person; the crowd never
    a_row = int(np.flatnonzero(matching.gt_ann_id == 0)[0])
    tp_row = view.gt_hit[a_row]
    assert matching.det_score[tp_row] == pytest.approx(0.9)
    assert matching.det_iou[matching.threshold_index(0.5), tp_row] == pytest.approx(1.0)
    dup = int(np.flatnonzero(np.isclose(matching.det_score, 0.8))[0])
    assert matching.det_best_iou[dup] == pytest.approx(95 * 95 / 100**2)
    person = int(np.flatnonzero(np.isclose(matching.det_score, 0.65))[0])
    assert matching.gt_ann_id[matching.det_confused[person]] == 0  # covers the car
    # a duplicate up to its IoU, then (the car taken, nothing else near) background
    assert kinds_of(classify(matching, 0.9))[(0, 0.8)] == "duplicate"
    assert kinds_of(classify(matching, 0.95))[(0, 0.8)] == "bg"


def test_hand_worked_score_threshold_hides_and_misses(hand):
    _, matching = hand
    high = kinds_of(classify(matching, 0.5, score_thr=0.55))
    assert [k for k, kind in high.items() if kind == "below"] == [(0, 0.5), (0, 0.4), (0, 0.3)]
    assert {k: v for k, v in high.items() if v != "below"} == {
        k: v for k, v in HAND_KINDS.items() if k[1] >= 0.55
    }
    view = classify(matching, 0.5, score_thr=0.95)  # the car's only match drops out
    assert set(matching.gt_ann_id[view.gt_missed].tolist()) == {0, 1, 2}


def test_hand_worked_counts_table_and_confusion(hand):
    _, matching = hand
    view = classify(matching, 0.5)
    assert image_counts(view, "any error").tolist() == [7, 1]  # 5 wrong detections + 2 misses
    assert image_counts(view, "confusion").tolist() == [2, 0]
    assert image_counts(view, "confusion", label=2, confused_with=1).tolist() == [1, 0]
    assert image_counts(view, "confusion", label=2, confused_with=0).tolist() == [0, 0]
    assert image_counts(view, "miss", label=3).tolist() == [1, 0]
    car, truck, bus, person = class_table(view)
    assert car == dict(
        {"class": "car", "gt": 1, "detections": 5, "tp": 1, "localisation": 0},
        confusion=0,
        duplicate=1,
        background=2,
        miss=0,
    )
    assert (truck["localisation"], truck["miss"], bus["confusion"], person["miss"]) == (1, 1, 1, 1)
    expected = np.zeros((5, 5), int)
    expected[0, 0] = 1  # car found
    expected[1, 2] = 1  # a bus on the truck
    expected[0, 3] = 1  # a person on the car
    expected[4, 0] = 2  # two cars on background
    expected[1, 4] = expected[3, 4] = 1  # truck and person missed
    np.testing.assert_array_equal(confusion_counts(view), expected)
    with pytest.raises(ValueError, match="unknown error kind"):
        image_counts(view, "mistakes")
    with pytest.raises(ValueError, match="not one of"):
        classify(matching, 0.52)


def test_hand_worked_aps(hand):
    _, matching = hand
    ap = image_ap(matching)
    # image 1: car AP 1 (its first detection is right), truck and person 0; image 2 no GT
    assert ap[0] == pytest.approx(1 / 3) and np.isnan(ap[1])
    table = breakdown(matching, 0.5)
    assert table["car"]["C"] == pytest.approx(1.0)
    assert (table["truck"]["C"], table["truck"]["Loc"]) == (0.0, pytest.approx(1.0))
    assert table["bus"] == dict.fromkeys(("C", "Loc", "Sim", "Oth", "BG"), 0.0) | {"FN": 1.0}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A generated 12-image val split and simulated detections with every kind of error."""
    root = tmp_path_factory.mktemp("errors_demo")
    detkit.generate_cityscapes_sample(root, train=0, val=12, test=0, size=(512, 256), seed=5)
    detkit.convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("val",)
    )
    ann = root / "annotations/instancesonly_filtered_gtFine_val.json"
    coco = load_coco(str(ann))
    img_ids, cat_ids = coco.getImgIds(), coco.getCatIds()
    results = simulate_results(coco, img_ids, cat_ids, seed=1, with_masks=True)
    return root, ann, coco, img_ids, cat_ids, results


def tool_vs_breakdown(tool: dict, matching) -> dict[str, dict[str, float]]:
    """``coco_error_analysis``'s summary minus the same numbers from ``breakdown``."""
    at75, at50 = breakdown(matching, 0.75), breakdown(matching, 0.5)
    diffs = {}
    for name, errors in tool.items():
        mine = dict(at75[name], C75=at75[name]["C"], C50=at50[name]["C"])
        diffs[name] = {e: errors[e] - mine[e] for e in errors}
    return diffs


@pytest.mark.parametrize(("iou_type", "supercategories"), [("bbox", False), ("segm", True)])
def test_breakdown_equals_coco_error_analysis(demo, tmp_path, iou_type, supercategories):
    root, ann, coco, img_ids, cat_ids, results = demo
    if supercategories:  # person/rider human, the rest vehicle: Sim forgives more than Loc
        data = json.loads(ann.read_text())
        for cat in data["categories"]:
            cat["supercategory"] = "human" if cat["name"] in ("person", "rider") else "vehicle"
        ann = tmp_path / "with_super.json"
        ann.write_text(json.dumps(data))
        coco = load_coco(str(ann))
    bbox_entries, segm_entries = segm2json(results, img_ids, cat_ids)
    result_json = tmp_path / "res.json"
    result_json.write_text(json.dumps(segm_entries if iou_type == "segm" else bbox_entries))
    tool = detkit.analysis.coco_error_analysis(
        str(result_json), str(tmp_path), ann=str(ann), types=[iou_type]
    )
    matching = match_results(results, coco, img_ids, cat_ids, iou_type)
    view = classify(matching, 0.5)
    present = {DET_KINDS[k] for k in view.kind}
    assert {"tp", "duplicate", "loc", "oth", "bg"} <= present and view.gt_missed.any()
    for name, diff in tool_vs_breakdown(tool[iou_type], matching).items():
        assert max(abs(v) for v in diff.values()) < 1e-12, (name, diff)
    if supercategories:
        assert any(tool[iou_type][n]["Sim"] > tool[iou_type][n]["Loc"] for n in tool[iou_type])


def test_box_results_and_bad_inputs(demo):
    _, _, coco, img_ids, cat_ids, results = demo
    box_only = [r[0] for r in results]
    matching = match_results(box_only, coco, img_ids, cat_ids)
    assert len(matching.det_score) == len(det2json(box_only, img_ids, cat_ids))
    # each detection knows its row in its image's DetectionResult
    for d in range(0, len(matching.det_score), 7):
        result = detkit.DetectionResult.from_mmdet(box_only[matching.det_image[d]])
        row = matching.det_row[d]
        assert float(result.scores[row]) == pytest.approx(matching.det_score[d], abs=1e-6)
        assert int(result.labels[row]) == matching.det_label[d]
    with pytest.raises(ValueError, match="needs \\(bbox_results, segm_results\\)"):
        match_results(box_only, coco, img_ids, cat_ids, "segm")
    with pytest.raises(ValueError, match="got 11 results for 12 images"):
        match_results(box_only[:11], coco, img_ids, cat_ids)
    with pytest.raises(ValueError, match="'bbox' or 'segm'"):
        match_results(box_only, coco, img_ids, cat_ids, "keypoints")
