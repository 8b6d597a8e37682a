"""Notebook 03 (augmentation preview) runs headless with tiny parameters."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.notebook
def test_notebook_03_runs(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "03_augmentation_preview.ipynb"
    papermill.execute_notebook(
        str(REPO / "nbs" / "03_augmentation_preview.ipynb"), str(out), kernel_name="detkit", cwd=str(REPO),
        parameters=dict(data_root=str(tmp_path / "missing"), work_dir=str(tmp_path / "work"), num_samples=1,
                        levels=[0, 10], sample_size=[128, 64]),
        progress_bar=False)
    assert (tmp_path / "work" / "cityscapes_sample" / "annotations").is_dir()
    cells = json.loads(out.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "sample 0:" in text and "policy 1: Rotate(level=7, prob=0.5), Translate(level=5, prob=0.5)" in text
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images  # the static grid
    widgets = [o for c in cells for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets  # the live UI
