"""conv2d takes NNPACK for batches of small maps and for large single-image maps, and gives
Conv2d's values and gradients."""

import pytest
import torch

from detkit.ops import conv as fast_conv
from detkit.ops.conv import conv2d, conv_transpose2d

pytestmark = pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")


def _check_values_and_gradients(conv, x, tol):
    """conv2d(conv, x) against conv(x): output, input gradient, weight and bias gradients."""
    x = x.clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    ours = conv2d(conv, x)
    ref = conv(x_ref)
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    ours.backward(grad)
    ours_grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=tol, atol=tol)
    for got, want in zip(ours_grads, [p.grad for p in conv.parameters()]):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("padding", [1, 0])
def test_batch_of_roi_maps_goes_through_nnpack_with_conv2d_results(padding):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 8, 3, padding=padding)
    x = torch.randn(20, 16, 14, 14)
    assert fast_conv._use_nnpack(conv, x)
    _check_values_and_gradients(conv, x, 1e-4)


def test_large_maps_go_through_nnpack_one_image_at_a_time():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False)
    x = torch.randn(2, 128, 64, 128)
    assert fast_conv._use_nnpack(conv, x)
    # Winograd: ~4e-6 relative to the output norm
    _check_values_and_gradients(conv, x, 1e-4)


def test_flop_counter_counts_nnpack_convolutions_like_conv2d():
    from torch.utils.flop_counter import FlopCounterMode

    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False)
    x = torch.randn(1, 128, 64, 128, requires_grad=True)
    assert fast_conv._use_nnpack(conv, x)
    counts = []
    for run in (conv2d, lambda c, t: c(t)):
        with FlopCounterMode(display=False) as counter:
            run(conv, x).sum().backward()
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] == 3 * 2 * 128 * 128 * 9 * 64 * 128


def test_frozen_conv_gives_only_the_input_gradient():
    conv = torch.nn.Conv2d(16, 16, 3, padding=1).requires_grad_(False)
    x = torch.randn(16, 16, 12, 12, requires_grad=True)
    conv2d(conv, x).sum().backward()
    assert conv.weight.grad is None and x.grad.shape == x.shape
    torch.testing.assert_close(x.grad, torch.autograd.grad(conv(x).sum(), x)[0])


@pytest.mark.parametrize(
    "case",
    [
        "small batch",
        "stride",
        "groups",
        "autocast",
        "float64",
        "1x1",
        "small maps",
        "small single map",
        "few channels",
        "nnpack off",
    ],
)
def test_other_convolutions_use_conv_itself(case):
    channels = 8 if case == "few channels" else 16
    conv = torch.nn.Conv2d(
        channels,
        channels,
        1 if case == "1x1" else 3,
        padding=0 if case == "1x1" else 1,
        stride=2 if case == "stride" else 1,
        groups=4 if case == "groups" else 1,
    )
    side = {"small maps": 7, "few channels": 256}.get(case, 14)
    batch = {"small batch": 4, "small single map": 1, "few channels": 1}.get(case, 20)
    if case == "small single map":
        conv = torch.nn.Conv2d(256, 256, 3, padding=1)
        x = torch.randn(1, 256, 16, 32)
    else:
        x = torch.randn(batch, channels, side, side)
    if case == "float64":
        conv, x = conv.double(), x.double()
    with (
        torch.autocast("cpu", torch.bfloat16, enabled=case == "autocast"),
        torch.backends.nnpack.flags(enabled=case != "nnpack off"),
    ):
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
