"""nb06 under papermill on a tiny two-run sweep of nb04 (two seeds of the 16-channel demo
model, one epoch on a generated 128x64 sample), and the confusion-matrix counting."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "engine"))
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS  # noqa: E402


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate_cityscapes_sample(root, train=4, val=2, test=0, size=(128, 64), seed=11)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    return root


def val_dataset(root: Path):
    return detkit.build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(root / "annotations" / "instancesonly_filtered_gtFine_val.json"),
            img_prefix=str(root / "leftImg8bit" / "val") + "/",
            pipeline=[],
        ),
        dict(test_mode=True),
    )


def test_confusion_matrix_counts_as_mmdet(sample):
    dataset = val_dataset(sample)
    num_classes = len(dataset.CLASSES)
    results, expected = [], np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for index in range(len(dataset)):
        ann = dataset.get_ann_info(index)
        per_class = [np.zeros((0, 5), np.float32) for _ in range(num_classes)]
        for i, (box, label) in enumerate(zip(ann["bboxes"], ann["labels"])):
            if i == 0:  # missed: a false negative
                expected[label, num_classes] += 1
                continue
            wrong = (
                (label + 1) % num_classes if i == 1 else label
            )  # the second box: the wrong class
            per_class[wrong] = np.vstack([per_class[wrong], [*box, 0.9]]).astype(np.float32)
            expected[label, wrong] += 1
            if wrong != label:
                expected[label, num_classes] += 1  # its own class never found it
        per_class[0] = np.vstack([per_class[0], [0, 0, 1, 1, 0.95], [0, 0, 1, 1, 0.1]]).astype(
            np.float32
        )
        expected[num_classes, 0] += 1  # on background; the 0.1 one is below score_thr
        results.append(per_class)
    matrix = detkit.analysis.calculate_confusion_matrix(
        dataset, results, score_thr=0.3, tp_iou_thr=0.5
    )
    assert matrix.sum() > 2 * len(dataset)
    np.testing.assert_array_equal(matrix, expected)


@pytest.mark.notebook
@pytest.mark.slow
def test_compare_notebook_on_a_two_run_sweep(tmp_path, sample, run_notebook):
    fixed = dict(
        config=DEMO_CONFIG,
        data_root=str(sample),
        max_epochs=1,
        times=1,
        img_scale=[128, 64],
        samples_per_gpu=2,
        eval_interval=1,
        cfg_options=TINY_DEMO_OPTIONS,
    )
    out = tmp_path / "sweep"
    rows = detkit.experiments.sweep(
        REPO / "nbs" / "04_train_and_evaluate.ipynb",
        {"fixed": fixed, "seeds": [0, 1]},
        out,
        cwd=REPO,
    )
    assert [(r["setting"], r["done"]) for r in rows] == [("default", 2)]
    experiments = detkit.experiments.load_experiments(out)
    assert [e.name for e in experiments] == ["default/seed_0", "default/seed_1"]
    assert all(e.train and e.val and "bbox_mAP" in e.final and e.results for e in experiments)

    compared = run_notebook("06_compare_experiments.ipynb", runs=str(out))
    assert "default/seed_0: done" in compared.text and "default/seed_1: done" in compared.text
    markdown = "".join(
        "".join(o["data"]["text/markdown"]) for o in compared.with_data("text/markdown")
    )
    assert "| experiment | status | bbox_mAP | segm_mAP |" in markdown  # the metrics table
    assert "| default | 2/2 | 0 |" in markdown  # the sweep summary, mean ± std
    assert "| class | default/seed_0 | default/seed_1 |" in markdown  # per-class AP side by side
    assert len(compared.with_data("image/png")) == 3  # curves, per-class AP, confusion matrices
