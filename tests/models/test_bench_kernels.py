"""bench/kernels.py runs and detkit's kernels give the defaults' outputs there."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

KERNELS = Path(__file__).resolve().parents[2] / "bench" / "kernels.py"


@pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")
def test_kernel_benchmark_writes_every_row_with_matching_outputs(tmp_path):
    out = tmp_path / "kernels.json"
    subprocess.run(
        [sys.executable, str(KERNELS), "--repeats", "1", "--threads", "1", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert result["cpu_isa"] == torch.backends.cpu.get_cpu_capability()
    assert set(rows) >= {
        "conv3x3_forward_level_1x256x128x256",
        "conv3x3_forward_input_grad_level_1x256x128x256",
        "conv3x3_weight_grad_level_1x256x128x256",
        "conv3x3_weight_grad_level_1x256x64x128",
        "conv3x3_forward_rois_100x256x14x14",
        "roi_align_forward_700",
        "roi_align_backward_700",
        "bf16_autocast_vs_fp32_conv3x3_1x256x128x256",
    }
    crossovers = [name for name in rows if name.startswith("nnpack_vs_onednn_")]
    assert len(crossovers) == 6 and all(
        name.endswith(("_policy_nnpack", "_policy_onednn")) for name in crossovers
    )
    for name, row in rows.items():
        assert row["detkit_s"] > 0 and row["default_s"] > 0
        # Winograd (convs): ~1e-5 of the largest value; RoIAlign: float rounding only
        tolerance = 1e-6 if name.startswith("roi") else 1e-2 if name.startswith("bf16") else 1e-4
        assert row["max_rel_diff"] < tolerance, name
