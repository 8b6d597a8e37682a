"""bench/gpu.py runs on CPU with tiny sizes (a smoke run, not a timing test)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_bench_writes_every_row_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gpu.py"),
            "--device",
            "cpu",
            "--tiny",
            "--iters",
            "1",
            "--train-iters",
            "1",
            "--workers",
            "0",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    result = json.loads(out.read_text())
    assert result["device_type"] == "cpu" and result["device"].startswith("CPU")
    rows = result["rows"]
    assert set(rows) == {
        "infer_64x128_fp32",
        "infer_64x128_amp",
        "infer_50x83_fp32",
        "infer_50x83_amp",
        "train_cpu_workers_augment",
        "train_device_augment",
    }
    assert all(rows[k]["fps"] > 0 for k in rows if k.startswith("infer"))
    for key in ("train_cpu_workers_augment", "train_device_augment"):
        assert (
            rows[key]["images_per_s"] > 0
            and 0 <= rows[key]["loader_wait_share"] < 1
            and rows[key]["iters"] == 1
        )
