"""Every entry point loads configs through ``Config.load``: a config whose data paths are
``${data_root}`` references to a root that does not exist, with ``MMDET_DATASETS`` pointing at
the real one, and whose test-time ``max_per_img`` is a ``${max_dets}`` reference, works in
``tools/train.py``, ``tools/test.py``, ``tools/infer.py``, the analysis tools,
``tools/deployment/export.py``, the ONNX Runtime detector, ``init_detector`` and a run's
confusion matrix. Without the reference step a path stays ``${data_root}...`` (file not found)
or ``max_per_img`` a string; without the data-root step the paths point at the missing root.

MMDetection v2.28's ``tools/train.py`` and ``tools/test.py`` both run ``replace_cfg_vals`` and
``update_data_root`` after ``Config.fromfile``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import detkit
from detkit.experiments.compare import Experiment

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "engine"))
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS  # noqa: E402

MISSING_ROOT = "/nonexistent/detkit-data/"
CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
MAX_DETS = 3


def load_tool(relative: str) -> ModuleType:
    path = REPO / "tools" / relative
    spec = importlib.util.spec_from_file_location(f"tool_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory, monkeypatch_module) -> dict[str, str]:
    """A tiny sample under ``root`` (= MMDET_DATASETS), the referencing config, a checkpoint."""
    tmp = tmp_path_factory.mktemp("entry_points")
    root = tmp / "sample"
    detkit.generate_cityscapes_sample(root, train=2, val=2, test=0, size=(128, 64), seed=4)
    detkit.convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False)
    cfg = detkit.Config.fromfile(str(REPO / DEMO_CONFIG))
    ann = "${data_root}annotations/instancesonly_filtered_gtFine_%s.json"
    images = "${data_root}leftImg8bit/%s/"
    split = {"ann_file": ann % "val", "img_prefix": images % "val"}
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            "max_dets": MAX_DETS,
            "model.test_cfg.rcnn.max_per_img": "${max_dets}",
            "data_root": MISSING_ROOT,
            "data.train.times": 1,
            "data.train.dataset.ann_file": ann % "train",
            "data.train.dataset.img_prefix": images % "train",
            **{f"data.{s}.{k}": v for s in ("val", "test") for k, v in split.items()},
            "runner.max_epochs": 1,
            "total_epochs": 1,
        }
    )
    detkit.set_img_scale(cfg, (128, 64))
    config = tmp / "referencing.py"
    cfg.dump(str(config))
    assert "${data_root}" in config.read_text()
    built = detkit.config.load_config(str(config), environ={})  # references only
    torch.manual_seed(0)
    model = detkit.build_detector(built.model)
    model.init_weights()
    checkpoint = tmp / "tiny.pth"
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=CLASSES))
    monkeypatch_module.setenv("MMDET_DATASETS", str(root) + "/")
    return dict(tmp=str(tmp), root=str(root), config=str(config), checkpoint=str(checkpoint))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_config_load_resolves_references_then_the_data_root(setup):
    cfg = detkit.Config.load(setup["config"])
    assert cfg.data.test.ann_file.startswith(setup["root"] + "/annotations/")
    assert cfg.data.train.dataset.img_prefix == setup["root"] + "/leftImg8bit/train/"
    assert cfg.model.test_cfg.rcnn.max_per_img == MAX_DETS


@pytest.mark.slow
def test_train_test_and_infer_tools(setup, tmp_path):
    work_dir = tmp_path / "work"
    runner = load_tool("train.py").main(
        [setup["config"], "--work-dir", str(work_dir), "--no-validate", "--seed", "0"]
    )
    assert runner.epoch == 1 and (work_dir / "latest.pth").exists()

    out = tmp_path / "results.pkl"
    metrics = load_tool("test.py").main(
        [setup["config"], setup["checkpoint"], "--eval", "bbox", "--out", str(out)]
    )
    assert "bbox_mAP" in metrics and out.is_file()

    images = Path(setup["root"]) / "leftImg8bit" / "val"
    json_file = load_tool("infer.py").main(
        [setup["config"], setup["checkpoint"], str(images), "--out-dir", str(tmp_path / "drawn")]
    )
    records = json.loads(Path(json_file).read_text())
    assert len(records) == 2
    assert all(len(r["detections"]) <= MAX_DETS for r in records)


@pytest.mark.slow
def test_analysis_tools(setup, tmp_path):
    results = tmp_path / "results.pkl"
    load_tool("test.py").main([setup["config"], setup["checkpoint"], "--out", str(results)])
    text = load_tool("analysis_tools/print_config.py").main([setup["config"]])
    assert setup["root"] + "/annotations/" in text and MISSING_ROOT not in text
    metrics = load_tool("analysis_tools/eval_metric.py").main(
        [setup["config"], str(results), "--eval", "bbox"]
    )
    assert "bbox_mAP" in metrics
    counts = load_tool("analysis_tools/confusion_matrix.py").main(
        [setup["config"], str(results), str(tmp_path / "confusion")]
    )
    assert counts.shape == (len(CLASSES) + 1,) * 2
    load_tool("analysis_tools/analyze_results.py").main(
        [setup["config"], str(results), str(tmp_path / "best_worst"), "--topk", "1"]
    )
    assert any((tmp_path / "best_worst").rglob("*.png"))
    load_tool("analysis_tools/browse_dataset.py").main(
        [setup["config"], "--output-dir", str(tmp_path / "browse"), "--not-show"]
    )
    assert any((tmp_path / "browse").rglob("*.png"))
    fps = load_tool("analysis_tools/benchmark.py").main(
        [setup["config"], setup["checkpoint"], "--max-iter", "6", "--log-interval", "1"]
    )
    assert fps
    report = load_tool("analysis_tools/get_flops.py").main([setup["config"], "--shape", "64"])
    assert report is not None


@pytest.mark.slow
def test_init_detector_export_and_onnx_runtime(setup, tmp_path):
    model = detkit.init_detector(setup["config"], setup["checkpoint"])
    assert model.cfg.data.test.img_prefix == setup["root"] + "/leftImg8bit/val/"
    assert model.cfg.model.test_cfg.rcnn.max_per_img == MAX_DETS

    onnx_file = tmp_path / "model.onnx"
    load_tool("deployment/export.py").main(
        [setup["config"], setup["checkpoint"], "--out", str(onnx_file)]
    )
    detector = detkit.deploy.OnnxDetector(str(onnx_file), config=setup["config"])
    assert detector.cfg.data.test.img_prefix == setup["root"] + "/leftImg8bit/val/"


def test_experiment_confusion_of_a_run(setup, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(setup["config"], run / "referencing.py")
    out = str(run / "results.pkl")
    load_tool("test.py").main([setup["config"], setup["checkpoint"], "--out", out])
    counts, labels = detkit.experiments.experiment_confusion(Experiment("run", str(run)))
    assert labels[-1] == "background" and counts.shape == (len(CLASSES) + 1,) * 2
