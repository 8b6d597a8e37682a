"""AugFPN neck: FPN-compatible shapes and keys, Residual Feature Augmentation, exposed laterals."""

import pickle

import pytest
import torch
import torch.nn.functional as F

from detkit.models.necks.augfpn import AugFPN, ResidualFeatureAugmentation
from detkit.models.necks.fpn import FPN
from detkit.registry import NECKS, build
from detkit.structures.feature_pyramid import FeaturePyramid

IN_CHANNELS = [8, 16, 32, 64]


def _inputs(batch: int = 2, height: int = 64, width: int = 48) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, c, height // 2**i, width // 2**i, generator=gen)
        for i, c in enumerate(IN_CHANNELS)
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_outs=5),
        dict(num_outs=5, add_extra_convs="on_input"),
        dict(num_outs=5, start_level=1, add_extra_convs="on_output"),
        dict(num_outs=3, start_level=1, end_level=3),
        dict(num_outs=2, start_level=0, end_level=1),
    ],
)
def test_output_shapes_equal_fpn(kwargs):
    inputs = _inputs()
    fpn_outs = FPN(IN_CHANNELS, 16, **kwargs)(inputs)
    aug_outs = AugFPN(IN_CHANNELS, 16, **kwargs)(inputs)
    assert [o.shape for o in aug_outs] == [o.shape for o in fpn_outs]


def test_built_from_registry_with_seed_arguments():
    neck = build(
        dict(type="AugFPN", in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5), NECKS
    )
    assert isinstance(neck, AugFPN) and neck.rfa.pool_ratios == (0.1, 0.2, 0.3)
    assert len(neck.rfa.pool_convs) == 3 and neck.rfa.pool_convs[0].in_channels == 2048


def test_fpn_state_dict_fills_fpn_keys_and_reports_rfa_as_missing():
    fpn, aug = FPN(IN_CHANNELS, 16, 5), AugFPN(IN_CHANNELS, 16, 5)
    report = aug.load_state_dict(fpn.state_dict(), strict=False)
    assert report.unexpected_keys == []
    assert sorted(report.missing_keys) == sorted(
        k for k in aug.state_dict() if k.startswith("rfa.")
    )
    aug_state = aug.state_dict()
    for key, value in fpn.state_dict().items():
        assert key.startswith(("lateral_convs.", "fpn_convs.")) and ".conv." in key
        assert torch.equal(aug_state[key], value), key


def test_switching_rfa_off_removes_exactly_its_parameters():
    fpn_keys = set(FPN(IN_CHANNELS, 16, 5).state_dict())
    with_rfa = set(AugFPN(IN_CHANNELS, 16, 5).state_dict())
    without_rfa = set(AugFPN(IN_CHANNELS, 16, 5, use_rfa=False).state_dict())
    assert without_rfa == fpn_keys
    assert with_rfa - without_rfa == {
        f"rfa.pool_convs.{i}.{p}" for i in range(3) for p in ("weight", "bias")
    } | {f"rfa.fusion.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}


def test_without_rfa_outputs_equal_fpn_values():
    inputs = _inputs()
    fpn, aug = FPN(IN_CHANNELS, 16, 5), AugFPN(IN_CHANNELS, 16, 5, use_rfa=False)
    aug.load_state_dict(fpn.state_dict())
    for a, f in zip(aug(inputs), fpn(inputs)):
        torch.testing.assert_close(a, f, rtol=0, atol=0)


def test_training_output_carries_laterals_before_top_down_fusion():
    inputs = _inputs()
    neck = AugFPN(IN_CHANNELS, 16, 5)
    outs = neck(inputs)
    assert isinstance(outs, FeaturePyramid) and len(outs) == 5 and len(outs.laterals) == 4
    for i in range(3):
        torch.testing.assert_close(outs.laterals[i], neck.lateral_convs[i](inputs[i]))
    top = neck.lateral_convs[3](inputs[3]) + neck.rfa(inputs[3])
    torch.testing.assert_close(outs.laterals[3], top)
    # the top output is the fpn conv of the (unfused) top lateral
    torch.testing.assert_close(outs[3], neck.fpn_convs[3](top))
    neck.eval()
    eval_outs = neck(inputs)
    assert eval_outs.laterals is None and len(eval_outs) == 5


def test_feature_pyramid_behaves_as_a_sequence_of_levels_and_pickles():
    maps, laterals = (torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 2, 2)), (torch.ones(1, 2, 4, 4),)
    feats = FeaturePyramid(maps, laterals)
    assert feats[1] is maps[1] and feats[:1] == maps[:1] and len(feats) == 2
    restored = pickle.loads(pickle.dumps(feats))
    assert isinstance(restored, FeaturePyramid)
    assert torch.equal(restored[0], maps[0]) and torch.equal(restored.laterals[0], laterals[0])


def test_rfa_is_sigmoid_weighted_sum_of_upsampled_pooled_maps():
    rfa = ResidualFeatureAugmentation(4, 3, pool_ratios=(0.25, 0.5))
    last = rfa.fusion[2]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)  # sigmoid(0) = 0.5 for every ratio
    top = torch.randn(1, 4, 8, 12)
    expected = 0
    for conv, size in zip(rfa.pool_convs, [(2, 3), (4, 6)]):
        pooled = conv(F.adaptive_avg_pool2d(top, size))
        expected = expected + 0.5 * F.interpolate(
            pooled, size=(8, 12), mode="bilinear", align_corners=False
        )
    torch.testing.assert_close(rfa(top), expected)


def test_rfa_pools_at_least_one_pixel_on_tiny_maps():
    rfa = ResidualFeatureAugmentation(4, 3)
    assert rfa(torch.randn(2, 4, 3, 2)).shape == (2, 3, 3, 2)


@pytest.mark.parametrize("ratios", [(), (0.0, 0.2), (0.5, 1.5)])
def test_bad_pool_ratios_raise(ratios):
    with pytest.raises(ValueError, match="pool_ratios"):
        AugFPN(IN_CHANNELS, 16, 5, pool_ratios=ratios)


def test_gradients_reach_every_neck_parameter():
    neck = AugFPN(IN_CHANNELS, 16, 5, add_extra_convs="on_output")
    outs = neck(_inputs(batch=1, height=32, width=32))
    (sum(o.mean() for o in outs) + sum(lat.mean() for lat in outs.laterals)).backward()
    missing = [n for n, p in neck.named_parameters() if p.grad is None]
    assert missing == []
