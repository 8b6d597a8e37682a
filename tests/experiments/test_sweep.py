"""detkit.experiments.sweep / tools/sweep.py on a small real notebook (papermill, the detkit
kernel): grid
expansion, one folder per run, finished runs skipped, a killed sweep resumed, a failed run
recorded while the sweep goes on, mean ± std summaries."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import detkit
from detkit.experiments import expand_grid, format_markdown

REPO = Path(__file__).resolve().parents[2]

# writes eval_<seed>.json with bbox_mAP = lr * 10 + seed / 100 (what nb04 writes, by formula)
NOTEBOOK_CELLS = [
    ("work_dir = 'w'\nlr = 0.01\nseed = 0\nfail = False\nhold = ''", ["parameters"]),
    (
        "import json, os, time\n"
        "while hold and os.path.exists(hold):\n    time.sleep(0.2)\n"
        "assert not fail, 'this setting fails'\n"
        "os.makedirs(work_dir, exist_ok=True)\n"
        "json.dump({'metric': {'bbox_mAP': lr * 10 + seed / 100, 'segm_mAP': lr}},\n"
        "          open(os.path.join(work_dir, f'eval_{seed}.json'), 'w'))",
        None,
    ),
]


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "detkit",
        "display_name": "detkit (.venv)",
        "language": "python",
    }
    for source, tags in NOTEBOOK_CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def test_expand_grid_forms(tmp_path):
    runs = expand_grid(
        {
            "fixed": {"img_scale": [128, 64]},
            "grid": {"lr": [0.1, 0.2]},
            "variants": {"A": {"x": 1}, "B": {}},
            "seeds": [0, 1],
        }
    )
    assert [(r.setting, r.seed) for r in runs[:3]] == [
        ("A,lr=0.1", 0),
        ("A,lr=0.1", 1),
        ("A,lr=0.2", 0),
    ]
    assert len(runs) == 8 and runs[0].parameters == {
        "img_scale": [128, 64],
        "x": 1,
        "lr": 0.1,
        "seed": 0,
    }
    assert runs[0].folder == os.path.join("A,lr=0.1", "seed_0")
    plain = expand_grid({"lr": [0.1, 0.2], "max_epochs": 1, "seed": [3, 4]})
    assert [(r.setting, r.parameters) for r in plain][-1] == (
        "lr=0.2",
        {"max_epochs": 1, "lr": 0.2, "seed": 4},
    )
    (tmp_path / "g.yaml").write_text("grid:\n  lr: [0.5]\n")
    assert [r.folder for r in expand_grid(tmp_path / "g.yaml")] == [os.path.join("lr=0.5", "run")]
    with pytest.raises(KeyError, match="unknown sweep grid keys"):
        expand_grid({"grid": {"lr": [1]}, "seed": [1]})
    with pytest.raises(ValueError, match="axis 'lr' needs a non-empty list"):
        expand_grid({"grid": {"lr": 1}})


@pytest.mark.notebook
@pytest.mark.slow
def test_sweep_skips_done_records_failures_and_summarises(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb")
    grid = {"fixed": {"lr": 0.01}, "variants": {"ok": {}, "bad": {"fail": True}}, "seeds": [0, 1]}
    lines: list[str] = []
    rows = detkit.experiments.sweep(notebook, grid, tmp_path / "sweep", log=lines.append)
    out = tmp_path / "sweep"
    assert [r["setting"] for r in rows] == ["ok", "bad"]
    first = rows[0]
    assert first["done"] == 2 and first["failed"] == 0
    assert first["bbox_mAP_mean"] == pytest.approx(0.105)
    assert first["bbox_mAP_std"] == pytest.approx(
        math.sqrt(2 * 0.005**2)
    )  # sample std of 0.10, 0.11
    assert rows[1]["done"] == 0 and rows[1]["failed"] == 2 and rows[1]["bbox_mAP_mean"] is None
    record = json.loads((out / "bad" / "seed_0" / "sweep_run.json").read_text())
    assert record["status"] == "failed" and "this setting fails" in record["error"]
    assert (out / "bad" / "seed_0" / "nb.ipynb").exists()  # the executed notebook shows the error
    assert (out / "ok" / "seed_1" / "eval_1.json").exists()  # the run's work dir
    markdown = (out / "summary.md").read_text()
    assert markdown == format_markdown(rows)
    assert "| ok | 2/2 | 0 | 0.105 ± 0.007 | 0.010 ± 0.000 |" in markdown
    assert "| bad | 0/2 | 2 | — | — |" in markdown
    with open(out / "runs.csv") as file:
        runs = list(csv.DictReader(file))
    assert [(r["setting"], r["seed"], r["status"]) for r in runs] == [
        ("ok", "0", "done"),
        ("ok", "1", "done"),
        ("bad", "0", "failed"),
        ("bad", "1", "failed"),
    ]
    assert float(runs[1]["bbox_mAP"]) == pytest.approx(0.11) and runs[2]["bbox_mAP"] == ""

    mtimes = {p: p.stat().st_mtime for p in out.rglob("nb.ipynb")}
    lines.clear()
    detkit.experiments.sweep(
        notebook, grid, out, log=lines.append
    )  # everything finished or failed: nothing runs
    assert sum("skipped" in line for line in lines) == 4
    assert {p: p.stat().st_mtime for p in out.rglob("nb.ipynb")} == mtimes


@pytest.mark.notebook
@pytest.mark.slow
def test_cli_killed_sweep_resumes(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb")
    hold = tmp_path / "hold"
    hold.touch()  # the second run waits while this file exists
    (tmp_path / "grid.yaml").write_text(
        f"variants:\n  quick: {{}}\n  held: {{hold: '{hold}'}}\nseeds: [0]\n"
    )
    out = tmp_path / "sweep"
    command = [
        sys.executable,
        str(REPO / "tools" / "sweep.py"),
        str(notebook),
        "--grid",
        str(tmp_path / "grid.yaml"),
        "--out-dir",
        str(out),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = out / "quick" / "seed_0" / "sweep_run.json"
    deadline = time.time() + 120
    while not (first.exists() and (out / "held" / "seed_0").exists()) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # the second run's kernel is waiting on the hold file
    os.killpg(process.pid, signal.SIGKILL)  # the sweep, papermill and the kernel
    process.wait()
    assert json.loads(first.read_text())["status"] == "done"
    assert not (out / "held" / "seed_0" / "sweep_run.json").exists()
    first_notebook = (out / "quick" / "seed_0" / "nb.ipynb").stat().st_mtime
    hold.unlink()
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/2] quick/seed_0: done before, skipped" in result.stdout
    assert "[2/2] held/seed_0: done in" in result.stdout
    assert (out / "quick" / "seed_0" / "nb.ipynb").stat().st_mtime == first_notebook
    assert "| held | 1/1 | 0 | 0.100 | 0.010 |" in (out / "summary.md").read_text()
