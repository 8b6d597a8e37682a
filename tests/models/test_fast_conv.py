"""conv2d takes NNPACK for batches of small maps and gives Conv2d's values and gradients."""

import pytest
import torch

from detkit.models.layers import fast_conv
from detkit.models.layers.fast_conv import conv2d, conv_transpose2d

pytestmark = pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")


def test_batch_of_roi_maps_goes_through_nnpack_with_conv2d_results():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 8, 3, padding=1)
    x = torch.randn(20, 16, 14, 14, requires_grad=True)
    assert fast_conv._use_nnpack(conv, x)
    ours = conv2d(conv, x)
    x_ref = x.detach().clone().requires_grad_()
    ref = conv(x_ref)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    weight_grad = conv.weight.grad.clone()
    conv.weight.grad = None
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weight_grad, conv.weight.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["small batch", "stride", "groups", "autocast", "float64",
                                  "1x1", "small maps"])
def test_other_convolutions_use_conv_itself(case):
    conv = torch.nn.Conv2d(16, 16, 1 if case == "1x1" else 3, padding=0 if case == "1x1" else 1,
                           stride=2 if case == "stride" else 1, groups=4 if case == "groups" else 1)
    side = 7 if case == "small maps" else 14
    x = torch.randn(4 if case == "small batch" else 20, 16, side, side)
    if case == "float64":
        conv, x = conv.double(), x.double()
    with torch.autocast("cpu", torch.bfloat16, enabled=case == "autocast"):
        assert not fast_conv._use_nnpack(conv, x)
        assert conv2d(conv, x).shape == conv(x).shape


def test_conv_transpose2d_on_channels_last_copy_equals_deconv():
    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(16, 8, 2, stride=2)
    x = torch.randn(20, 16, 14, 14, requires_grad=True)
    ours = conv_transpose2d(deconv, x)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    x_ref = x.detach().clone().requires_grad_()
    ref = deconv(x_ref)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
