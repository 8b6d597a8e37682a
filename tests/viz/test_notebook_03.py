"""Notebook 03 (augmentation preview) runs headless with tiny parameters."""

import pytest


@pytest.mark.notebook
def test_notebook_03_runs(tmp_path, run_notebook):
    run = run_notebook(
        "03_augmentation_preview.ipynb",
        data_root=str(tmp_path / "missing"),
        work_dir=str(tmp_path / "work"),
        num_samples=1,
        levels=[0, 10],
        sample_size=[128, 64],
    )
    assert (tmp_path / "work" / "cityscapes_sample" / "annotations").is_dir()
    assert "sample 0:" in run.text
    assert "policy 1: Rotate(level=7, prob=0.5), Translate(level=5, prob=0.5)" in run.text
    assert run.with_data("image/png")  # the static grid
    assert run.with_data("application/vnd.jupyter.widget-view+json")  # the live UI
