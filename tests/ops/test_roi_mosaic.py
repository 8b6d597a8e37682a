"""RoIMosaic: a 3×3 conv stack on the mosaic of RoI maps gives the per-map results and
gradients; FCNMaskHead takes it where NNPACK's single-image conv applies to the mosaic."""

import pytest
import torch
import torch.nn.functional as F

from detkit.models.roi_heads.mask_head import FCNMaskHead
from detkit.ops import RoIMosaic, nnpack_mosaic


@pytest.mark.parametrize("count,height,width", [(1, 5, 5), (7, 14, 14), (10, 3, 4)])
def test_conv_stack_on_the_mosaic_equals_per_map_convs_in_float64(count, height, width):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(count, 4, height, width, dtype=torch.float64, generator=gen, requires_grad=True)
    w1 = torch.randn(6, 4, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w2 = torch.randn(3, 6, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    mosaic = RoIMosaic.plan(count, height, width)
    assert mosaic.rows * mosaic.cols >= count
    hidden = mosaic.clear_seams(F.relu(F.conv2d(mosaic.pack(x), w1, padding=1)))
    ours = mosaic.unpack(F.conv2d(hidden, w2, padding=1))
    ref = F.conv2d(F.relu(F.conv2d(x, w1, padding=1)), w2, padding=1)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
    got = torch.autograd.grad((ours * grad).sum(), (x, w1, w2))
    want = torch.autograd.grad((ref * grad).sum(), (x, w1, w2))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-11, atol=1e-11)


def test_clear_seams_in_place_without_gradients():
    mosaic = RoIMosaic.plan(4, 2, 3)
    assert mosaic.shape == (5, 7)
    with torch.no_grad():
        out = mosaic.clear_seams(torch.ones(1, 1, 5, 7))
    assert out[0, 0, 2].sum() == 0 and out[0, 0, :, 3].sum() == 0 and out.sum() == 4 * 6


@pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")
def test_mask_head_takes_the_mosaic_with_the_plain_results():
    torch.manual_seed(0)
    head = FCNMaskHead(num_convs=2, in_channels=256, conv_out_channels=256, num_classes=3)
    x = torch.randn(20, 256, 14, 14)
    labels = torch.arange(20) % 3
    assert nnpack_mosaic(head.convs[0].conv, x) is not None
    assert nnpack_mosaic(head.convs[0].conv, x[:1]) is None
    x_ref = x.clone().requires_grad_()
    x.requires_grad_()
    ours = head(x, labels)
    ours.sum().backward()
    ours_grads = [p.grad.clone() for p in head.parameters() if p.grad is not None]
    head.zero_grad()
    with torch.backends.nnpack.flags(enabled=False):  # oneDNN, per RoI
        assert nnpack_mosaic(head.convs[0].conv, x) is None
        ref = head(x_ref, labels)
        ref.sum().backward()
    ref_grads = [p.grad for p in head.parameters() if p.grad is not None]
    assert len(ours_grads) == len(ref_grads) > 0
    # values: Winograd's rounding, ~6e-6 of the norm (as for the FPN convs, test_fast_conv);
    # gradients: also the ReLUs whose input that rounding moves across 0 (the float64 test
    # above checks the mosaic's gradients exactly)
    for got, want, tol in zip(
        [ours, x.grad] + ours_grads,
        [ref, x_ref.grad] + ref_grads,
        [2e-5] + [2e-2] * (1 + len(ref_grads)),
    ):
        assert got.shape == want.shape
        assert ((got - want).norm() / want.norm()).item() < tol
