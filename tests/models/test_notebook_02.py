"""Notebook 02 (model assembly) runs headless with tiny parameters."""

import pytest


@pytest.mark.notebook
def test_notebook_02_runs(run_notebook):
    run = run_notebook(
        "02_model_assembly.ipynb",
        image_size=[128, 256],
        depth=18,
        cost_image_size=[64, 128],
        cost_repeats=1,
    )
    text = run.text
    assert "neck: AugFPN" in text and "78,825,105" in text  # the seed model's total
    assert "FPN neck: 77,047,694 parameters" in text
    assert "12 shape mismatches" in text
    assert "AugFPN" in text and "GFLOPs" in text  # the FPN vs AugFPN cost table
    assert len(run.with_data("image/png")) == 1
