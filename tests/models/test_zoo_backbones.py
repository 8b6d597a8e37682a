"""MMDetection v2.28 zoo backbones: ResNeXt, RegNet, HRNet, Res2Net, ResNeSt, SwinTransformer.

Parameter counts are checked against published numbers: torchvision's model metadata
(``num_params`` of ``resnext101_64x4d`` 83,455,272, ``regnet_x_3_2gf`` 15,296,552 and
``swin_t`` 28,288,354, the last being the official Swin-T of Liu et al. that MMDetection's
``swin_converter`` reads) minus the classifier head, since an mmdet backbone has none. The
architectures are the same (mmdet's ``ResNeXt``/``RegNet`` follow the pycls/torchvision
definitions; mmdet's Swin adds a LayerNorm per output, the classifier one final norm).
Key names follow ``mmdet/models/backbones/{resnext,regnet,hrnet,swin}.py`` (v2.28).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from detkit.checkpoint import load_state_dict
from detkit.models.backbones import HRNet, RegNet, Res2Net, ResNeSt, ResNeXt, SwinTransformer
from detkit.models.backbones.swin import swin_converter
from detkit.models.layers import PatchMerging


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _head(features: int, classes: int = 1000) -> int:
    return features * classes + classes


def test_resnext101_64x4d_parameter_count_equals_torchvision_without_fc() -> None:
    model = ResNeXt(depth=101, groups=64, base_width=4)
    assert _count(model) == 83_455_272 - _head(2048)
    reference = torchvision.models.resnext101_64x4d()
    assert _count(model) == _count(reference) - _count(reference.fc)


def test_resnext101_32x4d_keys_shapes_and_parameter_count() -> None:
    """mmdet's keys: ``layer3.22.conv2.weight`` of a 32-group 3×3 conv on 512 channels.
    44,177,704 parameters with the 2048→1000 classifier (``n_params`` of ``resnext101_32x4d``
    in Cadene's pretrained-models, the weights MMDetection's ``open-mmlab://resnext101_32x4d``
    were converted from)."""
    model = ResNeXt(depth=101, groups=32, base_width=4).eval()
    assert _count(model) == 44_177_704 - _head(2048)
    state = model.state_dict()
    assert state["layer1.0.conv2.weight"].shape == (128, 4, 3, 3)
    assert state["layer3.22.conv2.weight"].shape == (512, 16, 3, 3)
    assert "layer1.0.downsample.1.running_mean" in state
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, 256, 16, 24),
        (1, 512, 8, 12),
        (1, 1024, 4, 6),
        (1, 2048, 2, 3),
    ]


def test_regnetx_3_2gf_parameter_count_equals_torchvision_without_fc() -> None:
    model = RegNet(arch="regnetx_3.2gf")
    assert _count(model) == 15_296_552 - _head(1008)
    state = model.state_dict()
    assert state["conv1.weight"].shape == (32, 3, 3, 3) and "bn1.weight" in state
    assert state["layer1.0.conv2.weight"].shape == (96, 48, 3, 3)  # group width 48


def test_regnet_bad_arch_names_the_allowed_values() -> None:
    with pytest.raises(KeyError, match="regnetx_3.2gf"):
        RegNet(arch="regnetx_3gf")


def _hrnet_w32_extra() -> dict:
    return dict(
        stage1=dict(
            num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(64,)
        ),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block="BASIC",
            num_blocks=(4, 4),
            num_channels=(32, 64),
        ),
        stage3=dict(
            num_modules=4,
            num_branches=3,
            block="BASIC",
            num_blocks=(4, 4, 4),
            num_channels=(32, 64, 128),
        ),
        stage4=dict(
            num_modules=3,
            num_branches=4,
            block="BASIC",
            num_blocks=(4, 4, 4, 4),
            num_channels=(32, 64, 128, 256),
        ),
    )


def test_hrnet_w32_keys_and_shapes() -> None:
    """HRNetV2p-W32 (mmdet ``configs/hrnet``): four branches 32/64/128/256 at strides 4..32;
    keys ``stage4.2.fuse_layers.3.0.0.0.weight`` and ``transition1.1.0.0.weight`` as mmdet."""
    model = HRNet(extra=_hrnet_w32_extra()).eval()
    state = model.state_dict()
    for key in (
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv1.weight",
        "transition1.0.0.weight",
        "transition1.1.0.0.weight",
        "stage2.0.branches.1.3.conv2.weight",
        "stage4.2.fuse_layers.3.0.0.0.weight",
        "stage4.2.fuse_layers.0.3.0.weight",
    ):
        assert key in state, key
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, 32, 16, 16),
        (1, 64, 8, 8),
        (1, 128, 4, 4),
        (1, 256, 2, 2),
    ]


def test_hrnet_missing_stage_is_named() -> None:
    extra = _hrnet_w32_extra()
    del extra["stage3"]
    with pytest.raises((KeyError, ValueError), match="stage3"):
        HRNet(extra=extra)


def test_res2net_and_resnest_shapes_and_keys() -> None:
    res2net = Res2Net(depth=50, scales=4, base_width=26).eval()
    keys = res2net.state_dict()
    assert "layer1.0.convs.0.weight" in keys and "stem.0.weight" in keys
    gcb = dict(cfg=dict(type="ContextBlock", ratio=1 / 4), stages=(False, True, True, True))
    resnest = ResNeSt(
        depth=50,
        radix=2,
        reduction_factor=4,
        stem_channels=64,
        plugins=[dict(gcb, position="after_conv3")],
    ).eval()
    keys = resnest.state_dict()
    assert "layer1.0.conv2.conv.weight" in keys and "layer1.0.conv2.fc1.weight" in keys
    # GCNet's plugin at mmdet's position and name, stages 2-4 only
    assert keys["layer2.0.context_block.channel_add_conv.0.weight"].shape == (128, 512, 1, 1)
    assert not any(k.startswith("layer1.0.context_block") for k in keys)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for model in (res2net, resnest):
            assert [o.shape[1] for o in model(image)] == [256, 512, 1024, 2048]


# --------------------------------------------------------------------------- Swin


_WB = ("weight", "bias")


def _swin_t_keys() -> list[str]:
    """mmdet's Swin-T state dict keys, written from ``mmdet/models/backbones/swin.py``."""
    keys = [f"patch_embed.{m}.{p}" for m in ("projection", "norm") for p in ("weight", "bias")]
    for i, depth in enumerate((2, 2, 6, 2)):
        for j in range(depth):
            block = f"stages.{i}.blocks.{j}"
            keys += [f"{block}.norm1.weight", f"{block}.norm1.bias"]
            keys += [
                f"{block}.attn.w_msa.relative_position_bias_table",
                f"{block}.attn.w_msa.relative_position_index",
            ]
            keys += [
                f"{block}.attn.w_msa.{m}.{p}" for m in ("qkv", "proj") for p in ("weight", "bias")
            ]
            keys += [f"{block}.norm2.weight", f"{block}.norm2.bias"]
            keys += [
                f"{block}.ffn.layers.{m}.{p}" for m in ("0.0", "1") for p in ("weight", "bias")
            ]
        if i < 3:
            keys += [f"stages.{i}.downsample.norm.{p}" for p in ("weight", "bias")]
            keys.append(f"stages.{i}.downsample.reduction.weight")
    keys += [f"norm{i}.{p}" for i in range(4) for p in ("weight", "bias")]
    return keys


def test_swin_t_keys_equal_mmdet() -> None:
    assert sorted(SwinTransformer().state_dict()) == sorted(_swin_t_keys())


def test_swin_t_parameter_count_equals_official_swin_t_without_head() -> None:
    """28,288,354 (torchvision ``swin_t`` metadata, the official Swin-T) − the 768→1000 head
    + three more output LayerNorms (96, 192, 384 channels) = 27,520,698."""
    model = SwinTransformer()
    assert _count(model) == 28_288_354 - _head(768) + 2 * (96 + 192 + 384)
    reference = torchvision.models.swin_t()
    assert _count(model) == _count(reference) - _count(reference.head) + 2 * (96 + 192 + 384)


def test_mask_rcnn_swin_t_parameter_count() -> None:
    """Mask R-CNN Swin-T FPN on COCO: 47.8M parameters (Chu et al., 2021, "Twins", Table 5;
    the Swin detection repository, built on MMDetection, rounds it to 48M)."""
    import detkit

    root = Path(__file__).resolve().parents[2]
    cfg = detkit.Config.fromfile(str(root / "configs/_base_/models/mask_rcnn_r50_fpn.py"))
    cfg.model.backbone = dict(type="SwinTransformer", init_cfg=None)
    cfg.model.neck.in_channels = [96, 192, 384, 768]
    assert round(_count(detkit.build_detector(cfg.model)) / 1e6, 1) == 47.8


def test_swin_shapes_with_padding_and_out_indices() -> None:
    """A 70×100 image: patches 18×25 (padded by the patch embedding), windows padded too."""
    model = SwinTransformer(out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 70, 100))
    assert [tuple(o.shape) for o in outs] == [(2, 192, 9, 13), (2, 768, 3, 4)]
    assert model.out_channels == [192, 768]
    assert not hasattr(model, "norm0")


def test_swin_drop_path_rates_rise_linearly() -> None:
    model = SwinTransformer(drop_path_rate=0.2)
    rates = [
        block.attn.drop.drop_prob
        for stage in model.stages
        for block in stage.blocks
        if hasattr(block.attn.drop, "drop_prob")
    ]
    expected = torch.linspace(0, 0.2, 12)[1:].tolist()  # the first block has rate 0
    assert rates == pytest.approx(expected)


def test_swin_window_size_sets_bias_table_and_shift() -> None:
    model = SwinTransformer(window_size=12)
    attn = model.stages[0].blocks[1].attn
    assert attn.w_msa.relative_position_bias_table.shape == (23 * 23, 3)
    assert attn.shift_size == 6 and model.stages[0].blocks[0].attn.shift_size == 0


def test_swin_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        SwinTransformer(patch_size=4, strides=(2, 2, 2, 2))
    with pytest.raises(ValueError, match="num_heads"):
        SwinTransformer(num_heads=(3, 6, 12))
    with pytest.raises(ValueError, match="init_cfg and pretrained"):
        SwinTransformer(pretrained="x.pth", init_cfg=dict(type="Pretrained", checkpoint="x"))


def test_swin_frozen_stages_and_init() -> None:
    model = SwinTransformer(frozen_stages=1)
    model.train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert not model.norm0.weight.requires_grad and model.norm1.weight.requires_grad
    assert not model.stages[0].training and model.stages[1].training
    qkv = model.stages[1].blocks[0].attn.w_msa.qkv
    assert qkv.bias.abs().sum() == 0  # mmcv trunc_normal_init(std=0.02), cut at ±2 (absolute)
    assert abs(float(qkv.weight.std()) - 0.02) < 1e-3
    assert torch.all(model.norm1.weight == 1)


def _original_patch_merging(x: torch.Tensor, norm: nn.LayerNorm, linear: nn.Linear) -> torch.Tensor:
    """The Swin repository's PatchMerging on ``[B, H, W, C]``: concatenate x0 = (0::2, 0::2),
    x1 = (1::2, 0::2), x2 = (0::2, 1::2), x3 = (1::2, 1::2), LayerNorm, Linear."""
    parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
    merged = torch.cat(parts, dim=-1).flatten(1, 2)
    return linear(norm(merged))


def test_swin_converter_patch_merging_reorder_gives_the_original_output() -> None:
    torch.manual_seed(0)
    channels = 8
    norm, linear = nn.LayerNorm(4 * channels), nn.Linear(4 * channels, 2 * channels, bias=False)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    original = OrderedDict(
        [
            ("layers.0.downsample.norm.weight", norm.weight.detach()),
            ("layers.0.downsample.norm.bias", norm.bias.detach()),
            ("layers.0.downsample.reduction.weight", linear.weight.detach()),
        ]
    )
    converted = swin_converter(original)
    merging = PatchMerging(channels, 2 * channels)
    merging.load_state_dict(
        {k.removeprefix("backbone.stages.0.downsample."): v for k, v in converted.items()}
    )
    x = torch.randn(2, 6, 10, channels)
    ours, hw = merging(x.flatten(1, 2), (6, 10))
    assert hw == (3, 5)
    torch.testing.assert_close(ours, _original_patch_merging(x, norm, linear))


def test_swin_converter_key_names() -> None:
    t = torch.zeros(1)
    original = {
        "patch_embed.proj.weight": t,
        "patch_embed.norm.bias": t,
        "layers.1.blocks.0.attn.qkv.weight": t,
        "layers.1.blocks.0.attn.relative_position_bias_table": t,
        "layers.1.blocks.0.mlp.fc1.bias": t,
        "layers.1.blocks.0.mlp.fc2.weight": t,
        "layers.1.blocks.0.norm1.weight": t,
        "norm.weight": t,
        "head.weight": t,
    }
    assert list(swin_converter(original)) == [
        "backbone.patch_embed.projection.weight",
        "backbone.patch_embed.norm.bias",
        "backbone.stages.1.blocks.0.attn.w_msa.qkv.weight",
        "backbone.stages.1.blocks.0.attn.w_msa.relative_position_bias_table",
        "backbone.stages.1.blocks.0.ffn.layers.0.0.bias",
        "backbone.stages.1.blocks.0.ffn.layers.1.weight",
        "backbone.stages.1.blocks.0.norm1.weight",
        "backbone.norm.weight",
    ]


def _original_format(source: SwinTransformer) -> dict[str, torch.Tensor]:
    """``source``'s weights as the Swin repository names and orders them (the inverse of
    ``swin_converter``), with a classifier head the converter must drop."""
    original = {"head.weight": torch.zeros(10, 4), "head.bias": torch.zeros(10)}
    for key, value in source.state_dict().items():
        if "relative_position_index" in key or key.startswith("norm"):
            continue
        key = key.replace("attn.w_msa.", "attn.").replace("ffn.layers.0.0.", "mlp.fc1.")
        key = key.replace("ffn.layers.1.", "mlp.fc2.").replace("stages", "layers", 1)
        original[key.replace("projection", "proj")] = value.clone()
    # the original PatchMerging order is the inverse of the converter's reorder
    for key in [k for k in original if "downsample" in k]:
        value = original[key]
        if value.dim() == 1:
            original[key] = value.reshape(-1, 4).transpose(0, 1)[[0, 2, 1, 3]].reshape(-1)
        else:
            rows = value.shape[0]
            original[key] = value.reshape(rows, -1, 4).transpose(1, 2)[:, [0, 2, 1, 3]]
            original[key] = original[key].reshape(rows, -1)
    return original


def test_swin_pretrained_original_checkpoint_loads_with_convert_weights() -> None:
    """An original-repository checkpoint (``{'model': ...}``, window 7) into a window-12 Swin
    with ``convert_weights=True``: keys converted, bias tables resized bicubically."""
    torch.manual_seed(0)
    source = SwinTransformer(depths=(2, 2), num_heads=(3, 6), out_indices=(0, 1))
    original = _original_format(source)
    target = SwinTransformer(
        depths=(2, 2),
        num_heads=(3, 6),
        out_indices=(0, 1),
        window_size=12,
        convert_weights=True,
        init_cfg=dict(type="Pretrained", checkpoint="unused.pth"),
    )
    weights = target.pretrained_state_dict({"model": original})
    report = load_state_dict(target, weights, logger="silent")
    assert report is not None
    expected = source.state_dict()
    for key in ("stages.0.downsample.reduction.weight", "stages.0.downsample.norm.weight"):
        torch.testing.assert_close(target.state_dict()[key], expected[key])
    table = target.stages[1].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (23 * 23, 6)
    resized = F.interpolate(
        expected["stages.1.blocks.0.attn.w_msa.relative_position_bias_table"]
        .permute(1, 0)
        .reshape(1, 6, 13, 13),
        size=(23, 23),
        mode="bicubic",
    )
    torch.testing.assert_close(table.detach(), resized.view(6, -1).permute(1, 0))


def test_swin_absolute_pos_embed_has_mmdet_shape_and_resizes() -> None:
    model = SwinTransformer(
        pretrain_img_size=64, use_abs_pos_embed=True, depths=(2,), num_heads=(3,), out_indices=(0,)
    ).eval()
    assert model.absolute_pos_embed.shape == (1, 16 * 16, 96)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 96, 16, 16)
        assert model(torch.randn(1, 3, 48, 80))[0].shape == (1, 96, 12, 20)


def test_detector_loads_an_original_swin_checkpoint_through_init_weights(tmp_path: Path) -> None:
    """The path of ``init_cfg=dict(type='Pretrained', checkpoint=...)`` with
    ``convert_weights=True`` in a config: ``init_weights`` of the detector converts and loads
    the file, so the backbone computes what the source Swin computes."""
    import detkit

    torch.manual_seed(0)
    source = SwinTransformer().eval()
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": _original_format(source)}, path)
    root = Path(__file__).resolve().parents[2]
    cfg = detkit.Config.fromfile(
        str(root / "configs/zoo/mask_rcnn_swin-t-p4-w7_fpn_cpu_cityscapes.py")
    )
    cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(path))
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    model.eval()
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for got, want in zip(model.backbone(image), source(image)):
            torch.testing.assert_close(got, want)
