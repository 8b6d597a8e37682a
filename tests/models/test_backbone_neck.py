"""ResNet / FPN / ConvModule: key names, shapes, freezing, norm_eval, FPN extra levels."""

import pytest
import torch
import torchvision

import detkit.models  # noqa: F401
from detkit.models.layers import ConvModule
from detkit.registry import MODELS, build


def test_resnet50_keys_equal_torchvision():
    ours = build(dict(type="ResNet", depth=50), MODELS).state_dict()
    theirs = torchvision.models.resnet50().state_dict()
    expected = {k: v.shape for k, v in theirs.items() if not k.startswith("fc.")}
    assert {k: v.shape for k, v in ours.items()} == expected
    assert len(ours) == 318


@pytest.mark.parametrize("depth,channels", [(18, [16, 32, 64, 128]), (50, [64, 128, 256, 512])])
def test_resnet_output_shapes(depth, channels):
    base = channels[0] if depth == 18 else 16
    model = build(dict(type="ResNet", depth=depth, base_channels=base), MODELS).eval()
    outs = model(torch.randn(1, 3, 64, 96))
    expansion = 1 if depth == 18 else 4
    assert [o.shape[1] for o in outs] == [base * 2**i * expansion for i in range(4)]
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]


def test_resnet_frozen_stages_and_norm_eval_survive_train():
    model = build(
        dict(type="ResNet", depth=18, base_channels=8, frozen_stages=1, norm_eval=True), MODELS
    )
    model.train()
    assert not model.conv1.weight.requires_grad and not model.bn1.training
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.layer3[0].bn1.training  # norm_eval
    model2 = build(dict(type="ResNet", depth=18, base_channels=8, norm_eval=False), MODELS)
    model2.train()
    assert model2.layer3[0].bn1.training


def test_resnet_zero_init_residual_and_requires_grad_flag():
    model = build(
        dict(
            type="ResNet", depth=50, base_channels=8, norm_cfg=dict(type="BN", requires_grad=False)
        ),
        MODELS,
    )
    assert torch.all(model.layer1[0].bn3.weight == 0)
    assert torch.all(model.layer1[0].bn1.weight == 1)
    assert not model.layer2[0].bn1.weight.requires_grad


def test_resnet_bad_depth_names_value():
    with pytest.raises(KeyError, match="depth 42"):
        build(dict(type="ResNet", depth=42), MODELS)


def test_conv_module_keys_and_bias_auto():
    plain = ConvModule(3, 4, 3, padding=1, act_cfg=None)
    assert set(plain.state_dict()) == {"conv.weight", "conv.bias"}
    normed = ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN"))
    assert "conv.bias" not in normed.state_dict() and "bn.weight" in normed.state_dict()
    assert normed(torch.randn(1, 3, 5, 5)).min() >= 0  # ReLU


def test_fpn_keys_and_maxpool_p6():
    fpn = build(dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=8, num_outs=5), MODELS)
    keys = set(fpn.state_dict())
    assert "lateral_convs.3.conv.weight" in keys and "fpn_convs.3.conv.bias" in keys
    assert len(keys) == 16
    feats = [torch.randn(1, c, s, s) for c, s in zip([8, 16, 32, 64], [16, 8, 4, 2])]
    outs = fpn(feats)
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2, 1]
    assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])


def test_fpn_top_down_hand_computed():
    """With identity laterals and fpn convs, P_i = C_i + upsampled P_{i+1}."""
    fpn = build(dict(type="FPN", in_channels=[1, 1], out_channels=1, num_outs=2), MODELS)
    with torch.no_grad():
        for conv in list(fpn.lateral_convs) + list(fpn.fpn_convs):
            conv.conv.weight.zero_()
            conv.conv.bias.zero_()
            k = conv.conv.weight.shape[-1] // 2
            conv.conv.weight[0, 0, k, k] = 1.0
    c2 = torch.arange(16.0).view(1, 1, 4, 4)
    c3 = torch.tensor([[[[100.0, 200.0], [300.0, 400.0]]]])
    p2, p3 = fpn([c2, c3])
    # exact with PyTorch's convs; a measured Winograd kernel (detkit.ops) rounds to ~1e-6
    torch.testing.assert_close(p3, c3, rtol=1e-5, atol=1e-5)
    up = c3.repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(p2, c2 + up, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "mode,first_in", [("on_input", 64), ("on_lateral", 8), ("on_output", 8), (True, 64)]
)
def test_fpn_extra_convs(mode, first_in):
    fpn = build(
        dict(
            type="FPN",
            in_channels=[8, 16, 32, 64],
            out_channels=8,
            num_outs=6,
            add_extra_convs=mode,
            relu_before_extra_convs=True,
        ),
        MODELS,
    )
    assert fpn.fpn_convs[4].conv.in_channels == first_in
    feats = [torch.randn(1, c, s, s) for c, s in zip([8, 16, 32, 64], [32, 16, 8, 4])]
    assert [o.shape[-1] for o in fpn(feats)] == [32, 16, 8, 4, 2, 1]


def test_fpn_rejects_bad_extra_convs():
    with pytest.raises(ValueError, match="on_top"):
        build(
            dict(
                type="FPN",
                in_channels=[8, 16],
                out_channels=8,
                num_outs=3,
                add_extra_convs="on_top",
            ),
            MODELS,
        )
