"""detkit's RoIAlign call (two GEMMs per RoI on CPU) gives torchvision's values and
gradients."""

import pytest
import torch
from torchvision.ops import RoIAlign

from detkit.ops.roi_align import roi_align


def _inputs(num_rois=300, channels=64, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(2, channels, 40, 60, generator=gen).to(dtype)
    xy = torch.rand(num_rois, 2, generator=gen) * torch.tensor([400.0, 250.0])
    wh = 5 + torch.rand(num_rois, 2, generator=gen) * 200
    batch = torch.randint(0, 2, (num_rois, 1), generator=gen).float()
    return feat, torch.cat([batch, xy, xy + wh], 1).to(dtype)


def _edge_rois(dtype):
    """RoIs across the border, wholly outside the map, of zero and negative size, and tiny."""
    return torch.tensor(
        [
            [0, -30.0, -20.0, 40.0, 30.0],
            [1, 450.0, 300.0, 520.0, 350.0],
            [0, 600.0, 400.0, 700.0, 500.0],
            [1, -90.0, -90.0, -20.0, -30.0],
            [0, 100.0, 100.0, 100.0, 100.0],
            [1, 120.0, 80.0, 110.0, 70.0],
            [0, 200.0, 150.0, 201.5, 150.5],
            [1, 0.0, 0.0, 479.0, 319.0],
        ],
        dtype=dtype,
    )


def _values_and_gradients(layer, feat, rois):
    """(ours, torchvision's) outputs and map gradients for one random output gradient."""
    feat_ours = feat.clone().requires_grad_()
    feat_ref = feat.clone().requires_grad_()
    ours = roi_align(layer, feat_ours, rois)
    ref = layer(feat_ref, rois)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1), dtype=ref.dtype)
    ours.backward(grad)
    ref.backward(grad)
    return (ours, feat_ours.grad), (ref, feat_ref.grad)


@pytest.mark.parametrize("sampling_ratio,aligned", [(0, True), (2, False), (0, False), (3, True)])
def test_values_and_gradients_match_torchvision(sampling_ratio, aligned):
    layer = RoIAlign(7, 1 / 8, sampling_ratio, aligned)
    feat, rois = _inputs()
    rois = torch.cat([rois, _edge_rois(rois.dtype)])
    (ours, grad_ours), (ref, grad_ref) = _values_and_gradients(layer, feat, rois)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(roi_align(layer, feat, rois), ref.detach(), rtol=1e-5, atol=1e-6)


def test_channels_last_map_and_bf16_autocast_give_the_same_values():
    layer = RoIAlign((7, 5), 1 / 8, 0, True)
    feat, rois = _inputs(num_rois=50)
    ref = roi_align(layer, feat, rois)
    # channels-last strides, as pooled: scattering the rows converts the layout in one pass
    assert ref.shape == (50, 64, 7, 5) and ref.is_contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", torch.bfloat16):
        ours = roi_align(layer, feat.contiguous(memory_format=torch.channels_last), rois)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


@pytest.mark.parametrize("aligned", [True, False])
def test_separable_backward_is_the_exact_adjoint_in_float64(aligned):
    layer = RoIAlign((3, 4), 1 / 8, 0, aligned)
    feat, rois = _inputs(num_rois=6, channels=3, dtype=torch.float64)
    feat = feat[:, :, :12, :16].contiguous().requires_grad_()
    rois = torch.cat([rois * 0.3, _edge_rois(torch.float64) * 0.25])
    assert torch.autograd.gradcheck(lambda f: roi_align(layer, f, rois), (feat,), atol=1e-8)


def test_samples_on_the_border_are_kept_and_beyond_it_dropped():
    """One sample per RoI (1 bin, sampling ratio 1, scale 1) at x = -1, -1.5, 16 and 16.5 on a
    16-pixel row: torchvision keeps the samples at -1 and 16 (clamped onto the first and last
    pixel) and drops the others."""
    layer = RoIAlign(1, 1.0, 1, False)
    feat = torch.arange(16.0).view(1, 1, 1, 16).requires_grad_()
    centres = torch.tensor([-1.0, -1.5, 16.0, 16.5])
    rois = torch.stack([torch.zeros(4), centres - 1, torch.zeros(4), centres + 1, torch.ones(4)], 1)
    out = roi_align(layer, feat, rois)
    assert out.flatten().tolist() == [0.0, 0.0, 15.0, 0.0]
    out.sum().backward()
    expected = torch.zeros(16)
    expected[0] = expected[15] = 1.0
    assert torch.equal(feat.grad.flatten(), expected)


def test_rois_that_touch_no_pixel_get_zeros_and_give_no_gradient():
    layer = RoIAlign(7, 1 / 8, 0, True)
    feat = torch.randn(1, 4, 10, 10, requires_grad=True)
    rois = torch.tensor([[0, 200.0, 200.0, 260.0, 260.0], [0, 40.0, 40.0, 30.0, 30.0]])
    out = roi_align(layer, feat, rois)
    assert torch.equal(out, torch.zeros(2, 4, 7, 7))
    out.sum().backward()
    assert torch.equal(feat.grad, torch.zeros_like(feat))


def test_low_precision_map_is_pooled_with_float32_boxes():
    layer = RoIAlign(7, 1 / 8, 0, True)
    feat, rois = _inputs(num_rois=20)
    low = feat.bfloat16()
    out = roi_align(layer, low, rois)
    assert out.dtype == torch.bfloat16
    # within bf16 rounding of the float32 result (boxes rounded to bf16 move by up to 1 px)
    torch.testing.assert_close(out.float(), layer(low.float(), rois), rtol=2**-8, atol=2**-8)
