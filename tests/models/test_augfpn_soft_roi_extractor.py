"""Soft RoI Selection: all-level RoIAlign fused by learned spatial attention."""

import pytest
import torch
from torchvision.ops import roi_align

from detkit.models.roi_heads.roi_extractors import SoftRoIExtractor, rescale_rois
from detkit.registry import ROI_EXTRACTORS, build

STRIDES = [4, 8, 16, 32]


def _feats(channels: int = 6, size: int = 64, levels: int = 5) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(2, channels, size // 2 ** (i + 2), size // 2 ** (i + 2), generator=gen)
        for i in range(levels)
    ]


ROIS = torch.tensor(
    [[0, 1.0, 2.0, 30.0, 20.0], [1, 10.0, 10.0, 60.0, 63.0], [1, 5.5, 7.25, 9.0, 12.0]]
)


def _extractor(channels: int = 6, output_size: int = 7) -> SoftRoIExtractor:
    return build(
        dict(
            type="SoftRoIExtractor",
            roi_layer=dict(type="RoIAlign", output_size=output_size, sampling_ratio=0),
            out_channels=channels,
            featmap_strides=STRIDES,
        ),
        ROI_EXTRACTORS,
    )


def test_output_shape_like_single_roi_extractor():
    out = _extractor(output_size=7)(_feats(), ROIS)
    assert out.shape == (3, 6, 7, 7)
    assert _extractor(output_size=14)(_feats(), ROIS).shape == (3, 6, 14, 14)
    assert _extractor().num_inputs == 4


def test_fusion_is_sigmoid_weighted_sum_over_all_levels():
    extractor = _extractor()
    last = extractor.spatial_attention[2]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)  # every level weighted sigmoid(0) = 0.5
    feats = _feats()
    expected = sum(
        0.5 * roi_align(f, ROIS, (7, 7), 1.0 / s, 0, aligned=True) for f, s in zip(feats, STRIDES)
    )
    torch.testing.assert_close(extractor(feats, ROIS), expected)


def test_level_weights_select_a_level():
    extractor = _extractor()
    last = extractor.spatial_attention[2]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.copy_(torch.tensor([-50.0, 50.0, -50.0, -50.0]))  # only level 1 (stride 8)
    feats = _feats()
    expected = roi_align(feats[1], ROIS, (7, 7), 1.0 / 8, 0, aligned=True)
    torch.testing.assert_close(extractor(feats, ROIS), expected)


def test_roi_scale_factor_rescales_about_centres():
    rois = torch.tensor([[0, 10.0, 20.0, 30.0, 60.0]])
    torch.testing.assert_close(rescale_rois(rois, 1.5), torch.tensor([[0, 5.0, 10.0, 35.0, 70.0]]))
    extractor, feats = _extractor(), _feats()
    torch.testing.assert_close(
        extractor(feats, rois, roi_scale_factor=1.5), extractor(feats, rescale_rois(rois, 1.5))
    )


def test_no_rois_gives_empty_output_connected_to_the_graph():
    extractor = _extractor()
    out = extractor(_feats(), torch.zeros(0, 5))
    assert out.shape == (0, 6, 7, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in extractor.parameters())


def test_gradients_reach_attention_and_features():
    extractor = _extractor()
    feats = [f.requires_grad_() for f in _feats()]
    extractor(feats, ROIS).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in extractor.parameters())
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats[:4])
    assert feats[4].grad is None  # P6 is not pooled, as with SingleRoIExtractor


@pytest.mark.parametrize(
    "roi_layer, error",
    [
        (dict(type="RoIPool", output_size=7), KeyError),
        (dict(type="RoIAlign"), KeyError),
        (dict(type="RoIAlign", output_size=7, pool_mode="max"), ValueError),
        (dict(type="RoIAlign", output_size=7, spatial_scale=2), KeyError),
    ],
)
def test_bad_roi_layer_raises(roi_layer, error):
    with pytest.raises(error, match="roi_layer|output_size"):
        SoftRoIExtractor(roi_layer, 6, STRIDES)


def test_too_few_feature_maps_raises():
    with pytest.raises(ValueError, match="4 RoI levels"):
        _extractor()(_feats(levels=3), ROIS)


def test_low_precision_maps_are_pooled_with_float32_boxes():
    from detkit.models.roi_heads.roi_extractors import pool_rois_per_level

    feats = [f.to(torch.bfloat16) for f in _feats(size=1024, levels=1)]
    extractor = _extractor()
    rois = torch.tensor([[0, 3.3, 5.6, 251.7, 203.3]])  # bf16 would round 251.7 to 252
    (pooled,) = pool_rois_per_level(feats, rois, extractor.roi_layers[:1])
    assert pooled.dtype == torch.bfloat16
    expected = roi_align(feats[0].float(), rois, (7, 7), 1.0 / 4, 0, aligned=True)
    torch.testing.assert_close(pooled, expected.to(torch.bfloat16), rtol=0, atol=0)
