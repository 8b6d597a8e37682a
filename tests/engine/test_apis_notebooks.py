"""Notebooks 04 (train + evaluate) and 05 (inference) under papermill with tiny parameters:
a 16-channel model trained for a few iterations on a generated 128x64 sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS

from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample


@pytest.mark.notebook
@pytest.mark.slow
def test_train_evaluate_then_infer_notebooks(tmp_path, run_notebook):
    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=4, val=2, test=0, size=(128, 64), seed=11)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    work_dir = tmp_path / "work"
    training = run_notebook(
        "04_train_and_evaluate.ipynb",
        config=DEMO_CONFIG,
        data_root=str(root),
        work_dir=str(work_dir),
        max_epochs=1,
        times=1,
        img_scale=[128, 64],
        samples_per_gpu=2,
        eval_interval=1,
        cfg_options=TINY_DEMO_OPTIONS,
    )
    # log lines are plain stdout text (JupyterLab draws stderr in red boxes); the text log file has
    # them
    stderr = "".join("".join(o["text"]) for o in training.outputs if o.get("name") == "stderr")
    assert " - INFO - " not in stderr
    # the notebook's own parameters are no cause for the unknown cfg-options key warning
    assert "config options add keys" not in stderr
    # the environment and the 200-line config are collapsed blocks, whole in the log file
    html = "".join("".join(o["data"]["text/html"]) for o in training.with_data("text/html"))
    assert "<summary><code>environment</code>" in html and "<summary><code>config " in html
    assert "model = dict(" not in training.text
    assert "detkit - INFO - Epoch [1][1/1]" in training.text
    (log_file,) = work_dir.glob("*.log")
    assert "detkit - INFO - Epoch [1][1/1]" in log_file.read_text()
    # the per-epoch table (fastai's): epoch, train loss, val mAPs, time
    tables = [
        o["data"]["text/html"]
        for o in training.with_data("text/html")
        if "<table" in "".join(o["data"]["text/html"])
    ]
    table = "".join(tables[-1])
    for column in ("epoch", "train_loss", "valid_loss", "bbox_mAP", "segm_mAP", "time"):
        assert f"<th>{column}</th>" in table
    (log_file,) = work_dir.glob("*.log")
    assert "model = dict(" in log_file.read_text() and "Environment info:" in log_file.read_text()
    (eval_json,) = work_dir.glob("eval_*.json")
    metric = json.loads(eval_json.read_text())["metric"]
    assert {"bbox_mAP", "segm_mAP", "bbox_AP_person"} <= set(metric)
    assert (work_dir / "latest.pth").exists()
    assert len(list((work_dir / "val_results").rglob("*.png"))) == 2

    inference = run_notebook(
        "05_inference.ipynb",
        cwd=tmp_path,
        config=str(work_dir / Path(DEMO_CONFIG).name),
        checkpoint=str(work_dir / "latest.pth"),
        images=str(root / "leftImg8bit" / "val"),
        out_dir=str(tmp_path / "inference"),
        num_images=2,
        score_thr=0.0,
        export_shape=[64, 128],
    )  # the padded 128x64 inputs (a dynamic graph takes >= 65 px)
    records = json.loads((tmp_path / "inference" / "detections.json").read_text())
    assert len(records) == 2
    assert "ms per image on cpu" in inference.text
    assert inference.text.count("same as eager: True") == 2  # the Deploy section, ONNX Runtime
    assert (tmp_path / "inference" / "model.onnx").exists()


@pytest.mark.notebook
@pytest.mark.slow
def test_nb04_trains_in_two_processes_and_stops_early(tmp_path, run_notebook):
    """nb04 with ``nproc=2`` (detkit.launch from the cell, gloo) and ``early_stopping``: rank 0's
    table reaches the cell, and a val loss that cannot improve by ``min_delta`` stops the run
    after ``patience`` epochs, keeping the best checkpoint."""
    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=4, val=2, test=0, size=(128, 64), seed=11)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    work_dir = tmp_path / "work"
    training = run_notebook(
        "04_train_and_evaluate.ipynb",
        config=DEMO_CONFIG,
        data_root=str(root),
        work_dir=str(work_dir),
        max_epochs=4,
        times=1,
        img_scale=[128, 64],
        samples_per_gpu=1,
        nproc=2,
        early_stopping={"patience": 1, "min_delta": 100.0},
        cfg_options=TINY_DEMO_OPTIONS,
    )
    text = training.text
    assert "Distributed training: True (world size 2)" in text  # rank 0's log, streamed
    assert "early stopping after epoch 2: val_loss did not improve by more than 100" in text
    assert "best val_loss " in text and "at epoch 1" in text
    assert (work_dir / "best_val_loss_epoch_1.pth").exists()
    tables = [
        "".join(o["data"]["text/html"])
        for o in training.with_data("text/html")
        if "<table" in "".join(o["data"]["text/html"])
    ]
    assert "<th>valid_loss</th>" in tables[-1] and tables[-1].count("<tr>") == 2  # 2 epochs
