"""Notebook 01 (dataset conversion) runs headless with tiny parameters."""

import pytest


@pytest.mark.notebook
def test_notebook_01_runs(tmp_path, run_notebook):
    root = tmp_path / "cs"
    run = run_notebook(
        "01_dataset_conversion.ipynb",
        dataset_root=str(root),
        nproc=1,
        num_train=4,
        num_val=3,
        num_test=1,
        width=128,
        height=64,
        num_show=2,
    )
    for split in ("train", "val", "test"):
        assert (root / "annotations" / f"instancesonly_filtered_gtFine_{split}.json").is_file()
    assert "train: 4 images" in run.text and "batch img (2, 3, 64, 128)" in run.text
    assert (
        len(run.with_data("image/png")) >= 3
    )  # class/size plots for train and val, annotated images
