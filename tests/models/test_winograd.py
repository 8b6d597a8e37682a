"""Winograd's F(4×4, 3×3) kernel gradient equals the direct one, and fast_conv takes it on the
large maps where it measured faster."""

import pytest
import torch

from detkit.ops import conv as fast_conv
from detkit.ops import winograd
from detkit.ops.winograd import conv3x3_weight_grad, faster_than_onednn


def _direct_weight_grad(x, grad, padding):
    weight = x.new_zeros(grad.size(1), x.size(1), 3, 3)
    return torch.ops.aten.convolution_backward(
        grad, x, weight, None, [1, 1], [padding] * 2, [1, 1], False, [0, 0], 1, [False, True, False]
    )[1]


@pytest.mark.parametrize(
    "batch,channels,height,width,padding",
    [
        (1, 3, 8, 8, 1),  # whole tiles
        (2, 5, 13, 11, 1),  # partial tiles at the bottom and right
        (3, 4, 9, 7, 0),  # no padding: output 7×5
        (1, 2, 1, 1, 1),  # one pixel
        (1, 2, 3, 3, 0),  # one output pixel
        (2, 6, 21, 30, 1),  # several bands of tile rows
    ],
)
def test_equals_the_direct_kernel_gradient_in_float64(batch, channels, height, width, padding):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, height, width, generator=gen, dtype=torch.float64)
    grad = torch.randn(
        batch,
        4,
        height + 2 * padding - 2,
        width + 2 * padding - 2,
        generator=gen,
        dtype=torch.float64,
    )
    # exact up to float64 rounding: any wrong matrix entry, tile offset or padding fails this
    torch.testing.assert_close(
        conv3x3_weight_grad(x, grad, padding),
        _direct_weight_grad(x, grad, padding),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("onednn_products", [True, False], ids=["onednn", "batched_gemm"])
def test_float32_error_is_small_relative_to_the_gradient(onednn_products, monkeypatch):
    from detkit.ops import gemm
    from detkit.ops.policy import GemmPolicy

    monkeypatch.setattr(gemm, "_policy", lambda: GemmPolicy(winograd=onednn_products))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 32, 40, 48, generator=gen)
    grad = torch.randn(1, 16, 40, 48, generator=gen)
    ours = conv3x3_weight_grad(x, grad, 1).double()
    ref = _direct_weight_grad(x.double(), grad.double(), 1)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-5


@pytest.mark.parametrize(
    "channels,height,width,expected",
    [
        (256, 128, 256, True),  # stride-4 FPN level
        (256, 64, 128, True),  # stride-8
        (256, 32, 64, False),  # stride-16: 2048 pixels
        (128, 64, 128, False),  # ResNet layer 2: 128 channels
    ],
)
def test_taken_where_it_measured_faster(channels, height, width, expected):
    x = torch.empty(1, channels, height, width)
    assert faster_than_onednn(x, x) is expected


@pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")
def test_fast_conv_backward_takes_it_on_large_maps(monkeypatch):
    calls = []

    def counted(x, grad, padding):
        calls.append(tuple(x.shape))
        return conv3x3_weight_grad(x, grad, padding)

    monkeypatch.setattr(winograd, "conv3x3_weight_grad", counted)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1)
    x = torch.randn(1, 256, 64, 128)
    assert fast_conv._use_nnpack(conv, x)
    out = fast_conv.conv2d(conv, x)
    grad = torch.randn_like(out)
    weight_grad, bias_grad = torch.autograd.grad(out, [conv.weight, conv.bias], grad)
    assert calls == [(1, 256, 64, 128)]
    ref_weight, ref_bias = torch.autograd.grad(conv(x), [conv.weight, conv.bias], grad)
    torch.testing.assert_close(
        weight_grad, ref_weight, rtol=1e-4, atol=1e-4 * ref_weight.abs().max()
    )
    torch.testing.assert_close(bias_grad, ref_bias, rtol=1e-4, atol=1e-3)
