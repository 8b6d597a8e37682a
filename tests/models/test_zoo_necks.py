"""MMDetection v2.28 necks: PAFPN, HRFPN, FPN_CARAFE, BFP (and mmcv's NonLocal2d), FPG.

Key names are written from ``mmdet/models/necks/{pafpn,hrfpn,fpn_carafe,bfp,fpg}.py`` and
``mmcv/cnn/bricks/non_local.py``; numeric checks reduce each neck to a hand-worked case
(PAFPN with a zero bottom-up path is FPN; FPN_CARAFE with nearest upsampling is FPN; BFP of
constant maps adds the mean of the constants).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from detkit.models.layers import NonLocal2d
from detkit.models.necks import BFP, FPG, FPN, FPN_CARAFE, HRFPN, PAFPN

_WB = ("weight", "bias")


def _inputs(channels=(8, 16, 32, 64), size: int = 32) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(2, c, size // 2**i, size // 2**i) for i, c in enumerate(channels)]


def _conv_keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}.{i}.conv.{p}" for i in range(count) for p in _WB]


def _shapes(outs) -> list[tuple[int, ...]]:
    return [tuple(o.shape) for o in outs]


def test_pafpn_keys_equal_mmdet() -> None:
    neck = PAFPN([8, 16, 32, 64], 16, num_outs=5)
    expected = (
        _conv_keys("lateral_convs", 4)
        + _conv_keys("fpn_convs", 4)
        + _conv_keys("downsample_convs", 3)
        + _conv_keys("pafpn_convs", 3)
    )
    assert sorted(neck.state_dict()) == sorted(expected)


def _identity_conv(conv: nn.Conv2d) -> None:
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(conv.out_channels):
            conv.weight[c, c, 1, 1] = 1
        conv.bias.zero_()


def test_pafpn_with_zero_bottom_up_path_equals_fpn() -> None:
    fpn = FPN([8, 16, 32, 64], 16, num_outs=5, add_extra_convs="on_output")
    pafpn = PAFPN([8, 16, 32, 64], 16, num_outs=5, add_extra_convs="on_output")
    pafpn.load_state_dict(fpn.state_dict(), strict=False)
    for conv in pafpn.downsample_convs:
        nn.init.zeros_(conv.conv.weight)
        nn.init.zeros_(conv.conv.bias)
    for conv in pafpn.pafpn_convs:
        _identity_conv(conv.conv)
    x = _inputs()
    with torch.no_grad():
        expected, got = fpn(x), pafpn(x)
    assert _shapes(got) == [(2, 16, 32 // 2**i, 32 // 2**i) for i in range(5)]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    # and the real bottom-up path changes the coarser levels only
    pafpn.downsample_convs[0].conv.weight.data.normal_()
    with torch.no_grad():
        changed = pafpn(x)
    torch.testing.assert_close(changed[0], expected[0])
    assert not torch.allclose(changed[1], expected[1])


def test_hrfpn_keys_shapes_and_init() -> None:
    """HRNetV2p-W32's neck: ``HRFPN(in_channels=[32, 64, 128, 256], out_channels=256)``."""
    neck = HRFPN([8, 16, 32, 64], 16, num_outs=5)
    assert sorted(neck.state_dict()) == sorted(
        [f"reduction_conv.conv.{p}" for p in _WB] + _conv_keys("fpn_convs", 5)
    )
    assert neck.reduction_conv.conv.weight.shape == (16, 120, 1, 1)
    bound = (3 / 120) ** 0.5  # Kaiming-uniform a=1, fan_in = 120
    assert neck.reduction_conv.conv.weight.abs().max() <= bound
    with torch.no_grad():
        outs = neck(_inputs())
    assert _shapes(outs) == [(2, 16, 32 // 2**i, 32 // 2**i) for i in range(5)]
    with pytest.raises(ValueError, match="pooling_type"):
        HRFPN([8, 16], 16, pooling_type="SUM")


def test_hrfpn_max_pooling_levels() -> None:
    """With identity 3×3 convs, level l is the 2**l max-pool of the reduced map."""
    neck = HRFPN([16], 16, num_outs=3, pooling_type="MAX")
    for conv in neck.fpn_convs:
        _identity_conv(conv.conv)
    with torch.no_grad():
        nn.init.eye_(neck.reduction_conv.conv.weight.view(16, 16))
        neck.reduction_conv.conv.bias.zero_()
        x = torch.randn(1, 16, 8, 8)
        outs = neck([x])
    torch.testing.assert_close(outs[0], x)
    torch.testing.assert_close(outs[2], nn.functional.max_pool2d(x, 4))


def test_fpn_carafe_keys_equal_mmdet() -> None:
    neck = FPN_CARAFE([8, 16, 32, 64], 16, num_outs=5)
    keys = neck.state_dict()
    expected = _conv_keys("lateral_convs", 5) + _conv_keys("fpn_convs", 5)
    for i in range(4):
        for part in ("channel_compressor", "content_encoder"):
            expected += [f"upsample_modules.{i}.{part}.{p}" for p in _WB]
    assert sorted(keys) == sorted(expected)
    assert keys["upsample_modules.0.content_encoder.weight"].shape == (100, 64, 3, 3)
    assert keys["lateral_convs.4.conv.weight"].shape == (16, 64, 3, 3)  # extra: stride-2 3×3
    with torch.no_grad():
        outs = neck(_inputs())
    assert _shapes(outs) == [(2, 16, 32 // 2**i, 32 // 2**i) for i in range(5)]


def test_fpn_carafe_nearest_equals_fpn() -> None:
    fpn = FPN([8, 16, 32, 64], 16, num_outs=4)
    neck = FPN_CARAFE([8, 16, 32, 64], 16, num_outs=4, upsample_cfg=dict(type="nearest"))
    neck.load_state_dict(fpn.state_dict())
    x = _inputs()
    with torch.no_grad():
        for a, b in zip(neck(x), fpn(x)):
            torch.testing.assert_close(a, b)


def test_fpn_carafe_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="upsample_kernel"):
        FPN_CARAFE([8, 16], 16, 2, upsample_cfg=dict(type="deconv"))
    with pytest.raises(ValueError, match="type='bicubic'"):
        FPN_CARAFE([8, 16], 16, 2, upsample_cfg=dict(type="bicubic"))
    with pytest.raises(ValueError, match="order"):
        FPN_CARAFE([8, 16], 16, 2, order=("norm", "conv", "act"))


def test_bfp_constant_maps_get_the_mean() -> None:
    """Constant levels v_i: gathering (max-pool / nearest) keeps them, the mean m of the v_i
    is scattered back, so each output is v_i + m."""
    values = [1.0, 2.0, 4.0, 9.0]
    maps = [torch.full((1, 4, 16 // 2**i, 16 // 2**i), v) for i, v in enumerate(values)]
    neck = BFP(4, num_levels=4, refine_level=1)
    outs = neck(maps)
    for out, v in zip(outs, values):
        torch.testing.assert_close(out, torch.full_like(out, v + sum(values) / 4))


def test_bfp_non_local_keys_and_identity_init() -> None:
    """Libra R-CNN's ``BFP(refine_type='non_local')``: keys ``refine.{g,theta,phi}.conv``,
    ``refine.conv_out.conv``; mmcv's zero ``conv_out`` makes the block start as identity."""
    neck = BFP(8, num_levels=3, refine_level=1, refine_type="non_local")
    expected = [f"refine.{m}.conv.{p}" for m in ("g", "conv_out", "theta", "phi") for p in _WB]
    assert sorted(neck.state_dict()) == sorted(expected)
    assert neck.refine.g.conv.weight.std() < 0.02  # Normal(0, 0.01), not Xavier
    x = _inputs((8, 8, 8), 16)[:3]
    plain = BFP(8, num_levels=3, refine_level=1)
    with torch.no_grad():
        for a, b in zip(neck(x), plain(x)):
            torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="refine_type"):
        BFP(8, 3, refine_type="nonlocal")
    with pytest.raises(ValueError, match="refine_level"):
        BFP(8, 3, refine_level=3)


def test_non_local_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    block = NonLocal2d(4, reduction=2, use_scale=True)
    nn.init.normal_(block.conv_out.conv.weight)
    x = torch.randn(1, 4, 3, 5)
    with torch.no_grad():
        theta = block.theta(x).flatten(2)[0]  # [2, 15]
        phi = block.phi(x).flatten(2)[0]
        g = block.g(x).flatten(2)[0]
        weights = torch.softmax(theta.T @ phi / 2**0.5, dim=-1)  # [15, 15]
        y = (weights @ g.T).T.reshape(1, 2, 3, 5)
        torch.testing.assert_close(block(x), x + block.conv_out(y))


def _fpg(**overrides):
    """MMDetection's ``configs/fpg/mask_rcnn_r50_fpg_crop640_50e_coco.py`` neck, narrowed."""
    norm_cfg = dict(type="BN", requires_grad=True)
    act_conv_norm = dict(norm_cfg=norm_cfg, inplace=False, order=("act", "conv", "norm"))
    cfg = dict(
        in_channels=[8, 16, 32, 64],
        out_channels=16,
        inter_channels=16,
        num_outs=5,
        stack_times=3,
        paths=["bu"] * 3,
        same_down_trans=None,
        same_up_trans=dict(type="conv", kernel_size=3, stride=2, padding=1, **act_conv_norm),
        across_lateral_trans=dict(type="conv", kernel_size=1, **act_conv_norm),
        across_down_trans=dict(
            type="interpolation_conv", mode="nearest", kernel_size=3, **act_conv_norm
        ),
        across_up_trans=None,
        across_skip_trans=dict(type="conv", kernel_size=1, **act_conv_norm),
        output_trans=dict(
            type="last_conv", kernel_size=3, order=("act", "conv", "norm"), inplace=False
        ),
        norm_cfg=norm_cfg,
        skip_inds=[(0, 1, 2), (0, 1), (0,), (), ()],
    )
    cfg.update(overrides)
    return FPG(**cfg)


def test_fpg_keys_equal_mmdet_and_shapes() -> None:
    neck = _fpg()
    keys = neck.state_dict()
    # level 0 skips every pathway; level 2 joins at pathway 1
    assert not any(k.startswith("fpn_transitions.0.0.") for k in keys)
    assert not any(k.startswith("fpn_transitions.2.0.") for k in keys)
    assert "fpn_transitions.1.2.same_up.conv.weight" in keys
    assert "fpn_transitions.1.2.same_up.bn.running_var" in keys
    assert "fpn_transitions.2.4.across_lateral.conv.weight" in keys
    assert "fpn_transitions.2.3.across_down.conv.conv.weight" in keys
    assert "fpn_transitions.2.4.across_skip.conv.weight" in keys
    assert not any(".across_down." in k for k in keys if k.startswith("fpn_transitions.2.4."))
    assert "output_transition.4.conv_out.conv.weight" in keys
    assert "lateral_convs.3.weight" in keys and "lateral_convs.3.bias" in keys
    assert not any(k.startswith("extra_downsamples") for k in keys)  # max-pool P6
    neck.eval()
    with torch.no_grad():
        outs = neck(_inputs())
    assert _shapes(outs) == [(2, 16, 32 // 2**i, 32 // 2**i) for i in range(5)]


def test_fpg_skipped_level_passes_its_lateral_to_the_output() -> None:
    """Level 0 skips all pathways, so its output is ``output_transition.0`` of its lateral."""
    neck = _fpg().eval()
    x = _inputs()
    with torch.no_grad():
        lateral = neck.lateral_convs[0](x[0])
        torch.testing.assert_close(neck(x)[0], neck.output_transition[0].conv_out(lateral))


def test_fpg_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="skip_inds"):
        _fpg(skip_inds=None)
    with pytest.raises(ValueError, match="paths"):
        _fpg(paths=["bu", "up", "bu"])
    with pytest.raises(KeyError, match="transition type 'deconv'"):
        _fpg(across_lateral_trans=dict(type="deconv"))
