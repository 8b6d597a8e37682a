"""The faster-coco-eval evaluation backend gives pycocotools' metrics (the reference): every
returned number equal to 1e-4 on a generated set (``bench/eval.py``'s generator: jittered
polygon masks as RLE, missed instances, false positives, wrong labels)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from detkit.evaluation.coco import evaluate_coco

pytest.importorskip("faster_coco_eval")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval.py"


def _make_set():
    spec = importlib.util.spec_from_file_location("detkit_bench_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_set


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    gt, results = _make_set()(images=12, instances=12, height=256, width=512, seed=3)
    ann_file = tmp_path_factory.mktemp("coco") / "gt.json"
    ann_file.write_text(json.dumps(gt))
    return str(ann_file), results, [cat["id"] for cat in gt["categories"]]


def _evaluate(generated, backend, metric, **kwargs):
    ann_file, results, cat_ids = generated
    if metric == "proposal":  # one box array per image, as an RPN gives
        results = [np.concatenate(bboxes) for bboxes, _ in results]
    return evaluate_coco(
        results, ann_file, metric, cat_ids=cat_ids, logger="silent", backend=backend, **kwargs
    )


@pytest.mark.parametrize("metric", ["bbox", "segm", "proposal"])
def test_every_metric_equals_pycocotools(generated, metric):
    kwargs = {"classwise": True} if metric != "proposal" else {}
    items = None if metric != "proposal" else ["AR@100", "AR@300", "AR@1000", "AR_m@1000"]
    reference = _evaluate(generated, "pycocotools", metric, metric_items=items, **kwargs)
    faster = _evaluate(generated, "faster_coco_eval", metric, metric_items=items, **kwargs)
    assert set(faster) == set(reference)
    numeric = [key for key, value in reference.items() if isinstance(value, float)]
    assert len(numeric) >= 4
    # a set where every metric is 0 or 1 would not tell the backends apart
    assert any(0.05 < reference[key] < 0.95 for key in numeric)
    for key in numeric:
        assert faster[key] == pytest.approx(reference[key], abs=1e-4), key


def test_the_printed_table_is_pycocotools_table(generated, capsys):
    ann_file, results, cat_ids = generated
    tables = {}
    for backend in ("pycocotools", "faster_coco_eval"):
        evaluate_coco(results, ann_file, "bbox", cat_ids=cat_ids, backend=backend)
        tables[backend] = [
            line for line in capsys.readouterr().out.splitlines() if "Average" in line
        ]
    assert len(tables["pycocotools"]) == 12
    assert tables["faster_coco_eval"][:12] == tables["pycocotools"]


def test_unknown_backend_is_named(generated):
    with pytest.raises(ValueError, match="'cocoapi'"):
        _evaluate(generated, "cocoapi", "bbox")


def test_ap_is_taken_at_100_detections_as_pycocotools_does(tmp_path):
    """faster-coco-eval's own summary takes the AP at the largest maxDets (1000); with more
    than 100 detections per image that differs from pycocotools' AP (at 100)."""
    gt, results = _make_set()(images=2, instances=150, height=512, width=1024, seed=5)
    assert min(sum(len(b) for b in bboxes) for bboxes, _ in results) > 100
    ann_file = tmp_path / "gt.json"
    ann_file.write_text(json.dumps(gt))
    data = (str(ann_file), results, [cat["id"] for cat in gt["categories"]])
    reference = _evaluate(data, "pycocotools", "bbox")
    faster = _evaluate(data, "faster_coco_eval", "bbox")
    for key, value in reference.items():
        if isinstance(value, float):
            assert faster[key] == pytest.approx(value, abs=1e-4), key
