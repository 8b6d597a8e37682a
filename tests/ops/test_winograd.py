"""Winograd's F(4×4, 3×3) kernel gradient equals the direct one (its use in conv2d, pinned or
measured: test_conv)."""

import pytest
import torch

from detkit.ops.winograd import conv3x3_weight_grad


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


@pytest.mark.parametrize("products", ["onednn", "mkl"])
def test_float32_error_is_small_relative_to_the_gradient(products):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 32, 40, 48, generator=gen)
    grad = torch.randn(1, 16, 40, 48, generator=gen)
    ours = conv3x3_weight_grad(x, grad, 1, products).double()
    ref = _direct_weight_grad(x.double(), grad.double(), 1)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-5
