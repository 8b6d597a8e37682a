"""FPN vs AugFPN cost comparison (parameters, FLOPs, latency)."""

import pytest

import detkit
from detkit.models.analysis import ModuleCost, format_costs


def test_compare_necks_counts_parameters_and_conv_flops_exactly():
    in_channels, width, (h, w) = [4, 8, 16, 32], 8, (64, 96)
    fpn, aug = detkit.models.compare_necks(
        in_channels=in_channels,
        out_channels=width,
        num_outs=5,
        image_size=(h, w),
        repeats=1,
        warmup=0,
    )
    assert (fpn.name, aug.name) == ("FPN", "AugFPN")
    # FPN: 1x1 laterals + 3x3 outputs, each with bias
    assert fpn.params == sum(c * width + width + 9 * width * width + width for c in in_channels)
    # RFA: three 1x1 convs from C5, then 1x1 (3*width -> width) and 3x3 (width -> 3)
    rfa_params = 3 * (32 * width + width) + (3 * width * width + width) + (9 * width * 3 + 3)
    assert aug.params - fpn.params == rfa_params
    # one multiply-add = 2 FLOPs; biases, pooling and interpolation are not counted
    areas = [(h // s) * (w // s) for s in (4, 8, 16, 32)]
    fpn_flops = sum(2 * a * (c * width + 9 * width * width) for a, c in zip(areas, in_channels))
    assert fpn.gflops * 1e9 == pytest.approx(fpn_flops)
    pooled = [max(1, int(2 * r)) * max(1, int(3 * r)) for r in (0.1, 0.2, 0.3)]  # C5 is 2x3
    rfa_flops = sum(2 * p * 32 * width for p in pooled) + 2 * areas[3] * (
        3 * width * width + 9 * width * 3
    )
    assert aug.gflops * 1e9 == pytest.approx(fpn_flops + rfa_flops)
    assert fpn.latency_ms > 0 and aug.latency_ms > 0


def test_format_costs_shows_ratios_to_the_first_row():
    table = format_costs([ModuleCost("FPN", 100, 2.0, 10.0), ModuleCost("AugFPN", 150, 2.5, 12.0)])
    assert "1.500" in table.splitlines()[2] and "1.250" in table and "1.20" in table


def test_compare_necks_rejects_mismatched_strides():
    with pytest.raises(ValueError, match="strides"):
        detkit.models.compare_necks(in_channels=[4, 8], strides=(4, 8, 16))


def test_compare_roi_extractors_counts_the_attention_exactly():
    from detkit.models.analysis import compare_roi_extractors

    c, k = 8, 20
    single, soft = compare_roi_extractors(
        channels=c, num_rois=k, image_size=(64, 64), repeats=1, warmup=0
    )
    assert (single.params, single.gflops) == (0, 0.0)
    assert soft.params == (4 * c * c + c) + (9 * c * 4 + 4)
    assert soft.gflops * 1e9 == pytest.approx(2 * k * 49 * (4 * c * c + 9 * c * 4))
    assert "-" in format_costs([single, soft]).splitlines()[2]
