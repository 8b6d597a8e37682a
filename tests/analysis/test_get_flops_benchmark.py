"""get_flops (FlopCounterMode per module group) and benchmark (fps after warm-up) on the tiny
Cascade Mask R-CNN."""

from __future__ import annotations

import pytest
import torch
from analysis_helpers import load_tool
from torch.utils.flop_counter import FlopCounterMode

import detkit


def test_get_flops_groups_match_a_direct_count(tiny, capsys):
    report = load_tool("get_flops").main(
        [tiny["config"], "--shape", "100", "130", "--device", "cpu"]
    )
    printed = capsys.readouterr().out
    assert report.input_shape == (3, 128, 160) and report.ori_shape == (3, 100, 130)
    assert "Use size divisor set input shape from (3, 100, 130) to (3, 128, 160)" in printed
    assert list(report.groups) == ["backbone", "neck", "rpn_head", "roi_head"]
    assert sum(g[0] for g in report.groups.values()) == report.params
    assert sum(g[1] for g in report.groups.values()) == pytest.approx(report.gflops)
    # the backbone's share equals counting the backbone alone on the same padded input
    model = detkit.build_detector(detkit.Config.fromfile(tiny["config"]).model)
    counter = FlopCounterMode(display=False)
    img = torch.randn(1, 3, 128, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), counter:
        model.eval().backbone(img)
    assert report.groups["backbone"][1] == pytest.approx(counter.get_total_flops() / 1e9)
    assert report.groups["backbone"][1] > 0 and report.groups["roi_head"][1] > 0
    deeper = detkit.analysis.get_flops(tiny["config"], shape=(128,), depth=2, device="cpu")
    assert deeper.input_shape == (3, 128, 128) and "roi_head.mask_head" in deeper.groups
    with pytest.raises(ValueError, match="invalid input shape"):
        detkit.analysis.get_flops(tiny["config"], shape=(1, 2, 3))


def test_benchmark_counts_after_warmup(tiny, capsys):
    fps = load_tool("benchmark").main(
        [
            tiny["config"],
            tiny["checkpoint"],
            "--max-iter",
            "7",
            "--log-interval",
            "6",
            "--fuse-conv-bn",
            "--device",
            "cpu",
            "--repeat-num",
            "2",
        ]
    )
    printed = capsys.readouterr().out
    assert len(fps) == 2 and all(v > 0 for v in fps)
    assert "Done image [6  / 7], fps:" in printed and printed.count("Overall fps:") == 3
    with pytest.raises(ValueError, match=r"max_iter \(5\) must exceed num_warmup \(5\)"):
        detkit.analysis.benchmark(tiny["config"], tiny["checkpoint"], max_iter=5)
    with pytest.raises(FileNotFoundError):
        detkit.analysis.benchmark(
            tiny["config"], tiny["root"] + "/missing.pth", max_iter=6, device="cpu"
        )
