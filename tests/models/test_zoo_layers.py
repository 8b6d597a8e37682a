"""mmcv layers used by the zoo configs: DCN / DCNv2 on ``torchvision.ops.deform_conv2d``,
``ConvWS``, CARAFE, deformable RoI pooling (pure PyTorch).

The deformable convolutions are checked against a direct bilinear-sampling reference
(``grid_sample``, zeros outside the map: the definition of Dai et al., 2017 and Zhu et al.,
2019) within 1e-5, forward and backward; zero offsets (and masks of 1) give the plain
convolution. Key names are mmcv's (``conv_offset``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from detkit.models.layers import (
    CARAFEPack,
    DeformConv2dPack,
    DeformRoIPoolPack,
    ModulatedDeformConv2d,
    ModulatedDeformConv2dPack,
    ModulatedDeformRoIPoolPack,
    build_conv_layer,
    carafe,
    deform_roi_pool,
)


def _reference_deform_conv(x, offset, mask, weight, stride, padding, dilation, deform_groups):
    """Sample every tap at its offset position by bilinear interpolation, weight, sum."""
    batch, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = offset.shape[2:]
    taps = kh * kw
    ys = torch.arange(out_h, dtype=x.dtype)[:, None] * stride - padding
    xs = torch.arange(out_w, dtype=x.dtype)[None, :] * stride - padding
    per_group = channels // deform_groups
    columns = []
    for g in range(deform_groups):
        group_x = x[:, g * per_group : (g + 1) * per_group]
        samples = []
        for tap in range(taps):
            ki, kj = divmod(tap, kw)
            dy = offset[:, 2 * (g * taps + tap)]
            dx = offset[:, 2 * (g * taps + tap) + 1]
            py = ys + ki * dilation + dy  # [B, Ho, Wo]
            px = xs + kj * dilation + dx
            grid = torch.stack([2 * px / (width - 1) - 1, 2 * py / (height - 1) - 1], dim=-1)
            sample = F.grid_sample(group_x, grid, mode="bilinear", align_corners=True)
            if mask is not None:
                sample = sample * mask[:, g * taps + tap][:, None]
            samples.append(sample)
        columns.append(torch.stack(samples, dim=2))  # [B, C/g, K, Ho, Wo]
    cols = torch.cat(columns, dim=1)
    return torch.einsum("ock,bckhw->bohw", weight.view(out_channels, channels, taps), cols)


@pytest.mark.parametrize("deform_groups", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_modulated_deform_conv_equals_bilinear_reference(deform_groups: int, stride: int) -> None:
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(
        4, 3, 3, stride=stride, padding=1, deform_groups=deform_groups, bias=False
    ).double()
    x = torch.randn(2, 4, 7, 9, dtype=torch.double, requires_grad=True)
    out_h, out_w = (7 - 1) // stride + 1, (9 - 1) // stride + 1
    offset = 2.5 * torch.randn(2, 2 * deform_groups * 9, out_h, out_w, dtype=torch.double)
    offset.requires_grad_(True)
    mask = torch.rand(2, deform_groups * 9, out_h, out_w, dtype=torch.double, requires_grad=True)
    ours = layer(x, offset, mask)
    ref = _reference_deform_conv(x, offset, mask, layer.weight, stride, 1, 1, deform_groups)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    grad = torch.randn_like(ours)
    got = torch.autograd.grad(ours, (x, offset, mask, layer.weight), grad)
    want = torch.autograd.grad(ref, (x, offset, mask, layer.weight), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_dcn_and_dcnv2_with_zero_offsets_are_the_plain_conv() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 8, 10, 12)
    dcn = build_conv_layer(dict(type="DCN", deform_groups=2), 8, 16, 3, padding=1, bias=False)
    assert isinstance(dcn, DeformConv2dPack)
    assert sorted(dcn.state_dict()) == ["conv_offset.bias", "conv_offset.weight", "weight"]
    assert dcn.conv_offset.out_channels == 2 * 2 * 9
    torch.testing.assert_close(dcn(x), F.conv2d(x, dcn.weight, padding=1), atol=1e-5, rtol=0)
    dcnv2 = build_conv_layer(dict(type="DCNv2"), 8, 16, 3, stride=2, padding=1, bias=False)
    assert isinstance(dcnv2, ModulatedDeformConv2dPack)
    assert dcnv2.conv_offset.out_channels == 3 * 9
    # zero offsets and sigmoid(0) = 0.5 masks: half the plain convolution
    expected = 0.5 * F.conv2d(x, dcnv2.weight, stride=2, padding=1)
    torch.testing.assert_close(dcnv2(x), expected, atol=1e-5, rtol=0)


def test_conv_ws_standardises_each_filter() -> None:
    """``ConvWS``: every output filter normalised to mean 0 / std 1 (eps 1e-5) before the
    convolution (Qiao et al., 2019; mmcv's ``conv_ws_2d``)."""
    torch.manual_seed(0)
    conv = build_conv_layer(dict(type="ConvWS"), 3, 4, 3, padding=1)
    x = torch.randn(1, 3, 6, 6)
    w = conv.weight.view(4, -1)
    standard = (w - w.mean(1, keepdim=True)) / (w.std(1, keepdim=True) + 1e-5)
    expected = F.conv2d(x, standard.view_as(conv.weight), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)


def test_carafe_equals_unfold_reference() -> None:
    """CARAFE (Wang et al., 2019): output (y, x) = Σ_taps kernel · k×k neighbourhood of
    source pixel (y // s, x // s); written here with ``F.unfold``."""
    torch.manual_seed(0)
    pack = CARAFEPack(8, scale_factor=2, up_kernel=3, up_group=2, compressed_channels=4)
    assert sorted(pack.state_dict()) == [
        "channel_compressor.bias",
        "channel_compressor.weight",
        "content_encoder.bias",
        "content_encoder.weight",
    ]
    x = torch.randn(2, 8, 5, 6)
    masks = pack.kernel_normalizer(pack.content_encoder(pack.channel_compressor(x)))
    patches = F.unfold(x, 3, padding=1).view(2, 2, 4, 9, 5, 6)  # [B, G, C/G, k², H, W]
    patches = patches.repeat_interleave(2, dim=4).repeat_interleave(2, dim=5)
    expected = (patches * masks.view(2, 2, 1, 9, 10, 12)).sum(dim=3).view(2, 8, 10, 12)
    torch.testing.assert_close(carafe(x, masks, 3, 2, 2), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pack(x), expected, atol=1e-6, rtol=1e-5)


def _rois() -> torch.Tensor:
    return torch.tensor(
        [
            [0, 1.0, 2.0, 30.0, 20.0],
            [1, -4.0, -3.0, 12.0, 40.0],
            [0, 20.0, 10.0, 63.0, 47.0],
            [1, 5.0, 5.0, 6.0, 5.5],
        ]
    )


@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_deform_roi_pool_without_offsets_is_aligned_roi_align(sampling_ratio: int) -> None:
    """mmcv's ``deform_roi_pool`` with no offset is RoIAlign(aligned=True): compared with
    torchvision's kernel, borders and adaptive grids included."""
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 12, 16)
    ours = deform_roi_pool(feats, _rois(), None, 7, 0.25, sampling_ratio)
    ref = roi_align(feats, _rois(), 7, 0.25, sampling_ratio, aligned=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_deform_roi_pool_offset_shifts_bins_and_has_gradients() -> None:
    """An offset of (dx, dy) on every bin is RoIAlign of the RoI moved by
    ``gamma · (dx · w, dy · h)``; the offsets get gradients (checked numerically)."""
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 12, 16, dtype=torch.double)
    rois = _rois().double()[:3]
    offset = torch.zeros(3, 2, 7, 7, dtype=torch.double)
    offset[:, 0], offset[:, 1] = 0.3, -0.2
    moved = rois.clone()
    width, height = (rois[:, 3] - rois[:, 1]), (rois[:, 4] - rois[:, 2])
    moved[:, [1, 3]] += (0.1 * 0.3 * width)[:, None]
    moved[:, [2, 4]] += (0.1 * -0.2 * height)[:, None]
    ours = deform_roi_pool(feats, rois, offset, 7, 1.0, 2)
    torch.testing.assert_close(ours, roi_align(feats, moved, 7, 1.0, 2, aligned=True))
    small = (0.3 * torch.randn(1, 2, 2, 2, dtype=torch.double)).requires_grad_(True)
    feat = torch.randn(1, 2, 6, 7, dtype=torch.double, requires_grad=True)
    box = torch.tensor([[0, 1.3, 0.7, 4.1, 5.2]], dtype=torch.double)
    assert torch.autograd.gradcheck(
        lambda f, o: deform_roi_pool(f, box, o, 2, 1.0, 2), (feat, small)
    )


def test_deform_roi_pool_packs_keys_and_init() -> None:
    """mmcv keys ``offset_fc.{0,2,4}`` / ``mask_fc.{0,2}``; zero-initialised last layers, so
    the pack starts as plain pooling (the modulated one at half of it)."""
    torch.manual_seed(0)
    pack = DeformRoIPoolPack(7, 3, deform_fc_channels=16, spatial_scale=0.25)
    modulated = ModulatedDeformRoIPoolPack(7, 3, deform_fc_channels=16, spatial_scale=0.25)
    linear = [f"offset_fc.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert sorted(pack.state_dict()) == sorted(linear)
    assert sorted(modulated.state_dict()) == sorted(
        linear + [f"mask_fc.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")]
    )
    feats = torch.randn(2, 3, 12, 16)
    plain = roi_align(feats, _rois(), 7, 0.25, 0, aligned=True)
    torch.testing.assert_close(pack(feats, _rois()), plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(modulated(feats, _rois()), 0.5 * plain, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="output_channels=3"):
        pack(torch.randn(1, 4, 8, 8), _rois()[:1])


def test_deformable_roi_pooling_as_an_roi_layer_with_mmcv_keys() -> None:
    """``roi_layer=dict(type='DeformRoIPoolPack' | 'ModulatedDeformRoIPoolPack', output_size,
    output_channels)`` as in MMDetection v2.28's configs/dcn/faster_rcnn_r50_fpn_{dpool,mdpool}
    configs: one layer per level with its own offset (and mask) layers, keyed as mmcv's
    ``roi_layers.<level>.offset_fc`` / ``mask_fc``; zero-initialised offsets pool as the aligned
    RoIAlign (the modulated one scaled by its initial 0.5 mask)."""
    from detkit.models.roi_heads.roi_extractors import SingleRoIExtractor
    from detkit.ops import RoIAlign

    torch.manual_seed(0)
    feats = [torch.randn(1, 8, 32 // s, 32 // s) for s in (1, 2)]
    rois = torch.tensor([[0.0, 1.0, 2.0, 20.0, 25.0], [0.0, 0.0, 0.0, 6.0, 5.0]])
    for kind, scale in (("DeformRoIPoolPack", 1.0), ("ModulatedDeformRoIPoolPack", 0.5)):
        layer = dict(type=kind, output_size=3, output_channels=8, deform_fc_channels=16)
        extractor = SingleRoIExtractor(layer, out_channels=8, featmap_strides=[4, 8])
        keys = set(extractor.state_dict())
        assert "roi_layers.1.offset_fc.2.weight" in keys
        assert ("roi_layers.0.mask_fc.0.weight" in keys) == (kind != "DeformRoIPoolPack")
        plain = RoIAlign(3, 1.0 / 4, 0, True)(feats[0], rois)
        pooled = extractor.roi_layers[0](feats[0], rois)
        torch.testing.assert_close(pooled, plain * scale, atol=1e-5, rtol=1e-5)
    with pytest.raises(KeyError, match="roi_layer DeformRoIPoolPack"):
        SingleRoIExtractor(
            dict(type="DeformRoIPoolPack", output_size=3), out_channels=8, featmap_strides=[4]
        )
