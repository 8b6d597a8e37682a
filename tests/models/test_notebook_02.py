"""Notebook 02 (model assembly) runs headless with tiny parameters."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.notebook
def test_notebook_02_runs(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "02_model_assembly.ipynb"
    papermill.execute_notebook(
        str(REPO / "nbs" / "02_model_assembly.ipynb"), str(out), kernel_name="detkit",
        cwd=str(REPO), parameters=dict(image_size=[128, 256], depth=18, cost_image_size=[64, 128], cost_repeats=1), progress_bar=False)
    cells = json.loads(out.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert "neck: AugFPN" in text and "78,825,105" in text  # the seed model's total
    assert "FPN neck: 77,047,694 parameters" in text
    assert "12 shape mismatches" in text
    assert "AugFPN" in text and "GFLOPs" in text  # the FPN vs AugFPN cost table
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
