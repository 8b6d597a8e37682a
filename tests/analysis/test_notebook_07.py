"""nb07 (error analysis) under papermill on the tiny val split with simulated detections in
``tools/test.py --out``'s format: the breakdown is printed, the error browser widget is shown,
the per-class figure drawn, and no cell writes to stderr."""

from __future__ import annotations

import pickle

import pytest

from detkit.data.synthetic.detections import simulate_results


@pytest.mark.notebook
@pytest.mark.slow
def test_nb07_error_browser_under_papermill(tiny, val_dataset, tmp_path, run_notebook):
    results = simulate_results(
        val_dataset.coco, val_dataset.img_ids, val_dataset.cat_ids, seed=3, with_masks=True,
        rates={"tp": 0.4, "loc": 0.2, "confusion": 0.2, "duplicate": 0.1, "miss": 0.1},
        background_per_image=2,
    )  # fmt: skip
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps(results))
    run = run_notebook(
        "07_error_analysis.ipynb", config=tiny["config"], results=str(path), split="val",
        score_thr=0.0,
    )  # fmt: skip
    text = run.text
    assert "3 images, 8 classes, matched on ['bbox', 'segm']" in text
    assert " bbox at IoU 0.50: C " in text and " segm at IoU 0.50: C " in text
    assert run.with_data("application/vnd.jupyter.widget-view+json")  # the browser
    assert run.with_data("image/png")  # the per-class figure
    assert "images with any error" in text
    stderr = "".join("".join(o["text"]) for o in run.outputs if o.get("name") == "stderr")
    assert stderr == ""
