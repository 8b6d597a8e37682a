"""bench/kernels.py runs: every candidate pinned gives stock PyTorch's outputs there, and the
tuner's choices are reported."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detkit.ops.cpu import probe_cpu

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
        "conv3x3__nnpack__1x256x128x256",
        "conv3x3_input_grad__nnpack__1x256x128x256",
        "conv3x3_weight_grad__winograd_onednn__1x256x128x256",
        "conv3x3_weight_grad__winograd_mkl__1x256x64x128",
        "conv3x3__nnpack__100x256x14x14",
        "roi_mosaic__mosaic__100x256x14x14",
        "linear_backward__onednn__512x12544_to_1024",
        "conv1x1_backward__onednn__1x256x128x256_to_256",
        "layout:resnet_stem__channels_last__1x3x512x1024",
        "deconv__channels_last__100x256x14x14",
        "roi_align__gemm__700",
        "roi_align_backward__gemm__700",
    }
    native_bf16 = probe_cpu().native(torch.bfloat16)
    assert ("bf16__autocast__1x256x128x256" in rows) == native_bf16
    crossovers = [name for name in rows if "__tuned_" in name]
    assert len(crossovers) == 6 and all(
        name.endswith(("__tuned_nnpack", "__tuned_nnpack_per_image", "__tuned_pytorch"))
        for name in crossovers
    )
    assert "choices: conv3x3" in result["kernel_report"]
    for name, row in rows.items():
        assert row["detkit_s"] > 0 and row["default_s"] > 0
        # Winograd (convs): ~1e-5 of the largest value; RoIAlign: float rounding only
        tolerance = (
            1e-6 if name.startswith("roi_align") else 1e-2 if name.startswith("bf16") else 1e-4
        )
        assert row["max_rel_diff"] < tolerance, name
