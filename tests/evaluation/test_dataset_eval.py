"""dataset.evaluate / format_results on a generated Cityscapes-format sample: perfect
predictions rebuilt from the dataset's own annotations score 1.0 with every metric."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detkit.data import build_dataset
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

TEST_PIPELINE = [dict(type="LoadImageFromFile")]


@pytest.fixture(scope="module")
def val_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_sample")
    generate_cityscapes_sample(root, train=0, val=3, test=0, size=(256, 128), seed=2)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("val",))
    return build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(root / "annotations/instancesonly_filtered_gtFine_val.json"),
            img_prefix=str(root / "leftImg8bit/val/"),
            pipeline=TEST_PIPELINE,
            test_mode=True,
        )
    )


def perfect_results(dataset) -> list:
    results = []
    for index, info in enumerate(dataset.data_infos):
        ann = dataset.get_ann_info(index)
        masks = ann["masks"]
        from detkit.data.transforms.loading import _ann_to_bitmap

        bboxes = [[] for _ in dataset.CLASSES]
        segms = [[] for _ in dataset.CLASSES]
        for box, label, segm in zip(ann["bboxes"], ann["labels"], masks):
            bboxes[label].append([*box, 1.0])
            segms[label].append(
                _ann_to_bitmap(segm, info["height"], info["width"], "test").astype(bool)
            )
        results.append(([np.asarray(b, np.float32).reshape(-1, 5) for b in bboxes], segms))
    return results


def test_perfect_results_score_one_with_coco_and_cityscapes_metrics(val_dataset):
    results = perfect_results(val_dataset)
    assert sum(len(b) for r in results for b in r[0]) > 0
    metrics = val_dataset.evaluate(results, metric=["bbox", "segm", "cityscapes"], logger="silent")
    assert metrics["bbox_mAP"] == 1.0
    assert metrics["segm_mAP"] == 1.0
    assert metrics["mAP"] == pytest.approx(1.0)
    assert metrics["AP@50"] == pytest.approx(1.0)


def test_format_results_writes_coco_json_or_cityscapes_txt(val_dataset, tmp_path):
    results = perfect_results(val_dataset)
    files, tmp_dir = val_dataset.format_results(results, jsonfile_prefix=str(tmp_path / "res"))
    assert tmp_dir is None
    entries = json.loads((tmp_path / "res.segm.json").read_text())
    assert {e["image_id"] for e in entries} <= set(val_dataset.img_ids)
    txt_files, _ = val_dataset.format_results(results, txtfile_prefix=str(tmp_path / "txt"))
    assert len(txt_files) == len(val_dataset)
    assert all(name.endswith("_leftImg8bit_pred.txt") for name in txt_files)


def test_evaluate_rejects_wrong_lengths_and_metrics(val_dataset):
    with pytest.raises(ValueError, match=r"got 1 results for the 3 images of .*_val\.json"):
        val_dataset.evaluate(perfect_results(val_dataset)[:1])
    with pytest.raises(KeyError, match="metric 'map' is not supported"):
        val_dataset.evaluate(perfect_results(val_dataset), metric="map")


def test_faster_coco_eval_backend_from_the_evaluation_config(val_dataset):
    """``evaluation = dict(metric=..., backend='faster_coco_eval')`` (or ``--eval-options
    backend=faster_coco_eval``) reaches COCO evaluation through ``dataset.evaluate``; the
    Cityscapes annotation ids start at 0, which both backends must still match."""
    pytest.importorskip("faster_coco_eval")
    results = perfect_results(val_dataset)
    results[0][0][0][:, :4] += 3.0  # one class's boxes moved: some metrics below 1
    options = dict(metric=["bbox", "segm"], logger="silent")
    reference = val_dataset.evaluate(results, **options)
    faster = val_dataset.evaluate(results, backend="faster_coco_eval", **options)
    assert faster == reference
    with pytest.raises(ValueError, match="backend 'fast'"):
        val_dataset.evaluate(results, backend="fast", **options)
