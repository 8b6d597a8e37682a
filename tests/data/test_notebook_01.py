"""Notebook 01 (dataset conversion) runs headless with tiny parameters."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.notebook
def test_notebook_01_runs(tmp_path):
    papermill = pytest.importorskip("papermill")
    root = tmp_path / "cs"
    out = tmp_path / "01_dataset_conversion.ipynb"
    papermill.execute_notebook(
        str(REPO / "nbs" / "01_dataset_conversion.ipynb"), str(out), kernel_name="detkit", cwd=str(REPO),
        parameters=dict(dataset_root=str(root), nproc=1, num_train=4, num_val=3, num_test=1, width=128, height=64,
                        num_show=2), progress_bar=False)
    for split in ("train", "val", "test"):
        assert (root / "annotations" / f"instancesonly_filtered_gtFine_{split}.json").is_file()
    cells = json.loads(out.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "train: 4 images" in text and "batch img (2, 3, 64, 128)" in text
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # class/size plots for train and val, annotated images
