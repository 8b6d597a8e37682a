"""browse_dataset: the training pipeline's output drawn to a folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
from analysis_helpers import REPO, load_tool
from PIL import Image

import detkit
from detkit.analysis.browse import retrieve_data_cfg


def test_cli_writes_one_drawing_per_training_image(tiny, tmp_path):
    out = tmp_path / "browse"
    written = load_tool("browse_dataset").main(
        [
            tiny["config"],
            "--output-dir",
            str(out),
            "--not-show",
            "--cfg-options",
            "data.train.times=2",
        ]
    )
    names = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and len(names) == 2  # RepeatDataset x2 over 2 images, same names
    assert all(name.endswith("_leftImg8bit.png") for name in names)
    assert Image.open(out / names[0]).size == (256, 128)  # Resize + Pad to 256x128


def test_skip_type_changes_the_pipeline_and_bad_inputs(tiny, tmp_path):
    cfg = retrieve_data_cfg(tiny["config"], ["Normalize", "Collect", "DefaultFormatBundle", "Pad"])
    steps = [step["type"] for step in cfg.data.train.dataset.pipeline]
    assert steps == ["LoadImageFromFile", "LoadAnnotations", "AutoAugment", "Resize", "RandomFlip"]
    with pytest.raises(KeyError, match=r"no \['gt_bboxes', 'gt_labels'\] after the pipeline"):
        detkit.analysis.browse_dataset(
            tiny["config"],
            skip_type=["LoadAnnotations", "DefaultFormatBundle", "Normalize", "Collect"],
            output_dir=str(tmp_path),
            not_show=True,
        )
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/analysis_tools/browse_dataset.py"),
            tiny["config"],
            "--not-show",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "needs an output_dir" in run.stderr
