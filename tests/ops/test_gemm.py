"""Linear layers and unstrided 1×1 convolutions: every candidate (oneDNN products, PyTorch's
kernels; pinned forward and backward) gives the values and gradients of nn.Linear /
nn.Conv2d, the pinned kernel is the one that runs, and PyTorch's own kernels run elsewhere
(autocast, export, oneDNN off, fast kernels off, other dtypes and convolutions)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from detkit.ops import Conv2d, Linear, fast_kernels, force_kernels, gemm

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="oneDNN not built in"
)


class _Ops(TorchDispatchMode):
    """Records the names of the ops dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _onednn_calls(run) -> int:
    with _Ops() as ops:
        run()
    return ops.names.count("mkldnn._linear_pointwise")


@pytest.fixture(
    params=[("onednn", "onednn"), ("onednn", "pytorch"), ("pytorch", "onednn")],
    ids=["onednn", "onednn_forward", "onednn_backward"],
)
def policy(request):
    """Pins (forward, backward) of linear layers and 1×1 convolutions."""
    forward, backward = request.param
    pins = dict(
        linear=forward, conv1x1=forward, linear_backward=backward, conv1x1_backward=backward
    )
    with force_kernels(pins):
        yield request.param


def _check(module, reference, x, tol=1e-4):
    """module(x) against reference(x): output and every gradient."""
    x = x.clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    ours, ref = module(x), reference(x_ref)
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    params = [p for p in module.parameters() if p.requires_grad]
    got = torch.autograd.grad(ours, [x, *params], grad)
    want = torch.autograd.grad(ref, [x_ref, *params], grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * 10)
    return ours


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1x1_nchw_values_and_gradients(policy, batch, bias):
    torch.manual_seed(0)
    conv = Conv2d(24, 40, 1, bias=bias)
    x = torch.randn(batch, 24, 9, 13)
    out = _check(conv, lambda t: F.conv2d(t, conv.weight, conv.bias), x)
    assert out.is_contiguous()
    # one product per image
    assert _onednn_calls(lambda: conv(x)) == (batch if policy[0] == "onednn" else 0)


def test_conv1x1_channels_last_is_one_product_in_its_layout(policy):
    torch.manual_seed(0)
    conv = Conv2d(24, 40, 1)
    x = torch.randn(2, 24, 9, 13).contiguous(memory_format=torch.channels_last)
    out = _check(conv, lambda t: F.conv2d(t, conv.weight, conv.bias), x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert _onednn_calls(lambda: conv(x)) == (policy[0] == "onednn")


def test_the_pinned_products_are_the_ones_that_run(policy):
    torch.manual_seed(0)
    conv, fc = Conv2d(16, 32, 1), Linear(64, 8)
    x = torch.randn(1, 16, 8, 8, requires_grad=True)
    y = torch.randn(5, 64, requires_grad=True)
    forward = _onednn_calls(lambda: (conv(x), fc(y)))
    out = conv(x).sum() + fc(y).sum()
    backward = _onednn_calls(lambda: out.backward())
    assert forward == (2 if policy[0] == "onednn" else 0)
    assert backward == (4 if policy[1] == "onednn" else 0)  # input and weight products of each


def test_frozen_layers_compute_only_the_gradients_asked_for(policy):
    torch.manual_seed(0)
    conv = Conv2d(16, 32, 1, bias=False).requires_grad_(False)
    x = torch.randn(1, 16, 8, 8, requires_grad=True)
    (grad_x,) = torch.autograd.grad(conv(x).sum(), x)
    torch.testing.assert_close(grad_x, torch.autograd.grad(F.conv2d(x, conv.weight).sum(), x)[0])
    fc = Linear(64, 8)
    y = torch.randn(5, 64)  # an input without gradient: only the parameters' products
    out = fc(y).sum()
    assert _onednn_calls(lambda: out.backward()) == (policy[1] == "onednn")
    torch.testing.assert_close(fc.weight.grad, torch.ones(8, 5) @ y)


def test_linear_values_gradients_and_leading_dims(policy):
    torch.manual_seed(0)
    fc = Linear(48, 20)
    _check(fc, lambda t: F.linear(t, fc.weight, fc.bias), torch.randn(2, 7, 48))
    # a slice of a wider matrix and an expanded gradient (strides oneDNN would run slowly)
    wide = torch.randn(10, 96)
    torch.testing.assert_close(fc(wide[:, :48]), F.linear(wide[:, :48], fc.weight, fc.bias))
    y = torch.randn(10, 48, requires_grad=True)
    fc(y).sum().backward()  # the gradient of sum() is an expanded (stride 0) tensor
    torch.testing.assert_close(y.grad, fc.weight.sum(0).expand(10, 48), rtol=1e-5, atol=1e-5)


def test_onednn_matmul_reads_transposed_views_and_copies_other_strides():
    a, b = torch.randn(30, 50), torch.randn(40, 30)
    torch.testing.assert_close(gemm.onednn_matmul(a.t(), b.t()), a.t() @ b.t())
    wide = torch.randn(50, 80)
    torch.testing.assert_close(gemm.onednn_matmul(a, wide[:, 10:50]), a @ wide[:, 10:50])


@pytest.mark.parametrize(
    "case", ["autocast", "export", "onednn_off", "float64", "strided", "padded", "fast_off"]
)
def test_other_cases_keep_pytorchs_kernels(case, monkeypatch):
    torch.manual_seed(0)
    conv = Conv2d(
        8, 8, 1, stride=2 if case == "strided" else 1, padding=1 if case == "padded" else 0
    )
    fc = Linear(8, 4)
    x, y = torch.randn(1, 8, 6, 6), torch.randn(3, 8)
    if case == "float64":
        conv, fc, x, y = conv.double(), fc.double(), x.double(), y.double()
    if case == "export":
        monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)

    def layers():
        return (
            fc(y),
            F.linear(y, fc.weight, fc.bias),
            conv(x),
            F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding),
        )

    def run():
        if case == "autocast":
            with torch.autocast("cpu", torch.bfloat16):
                return layers()
        if case == "onednn_off":
            with torch.backends.mkldnn.flags(enabled=False):
                return layers()
        if case == "fast_off":
            with fast_kernels(False):
                return layers()
        return layers()

    # a strided or padded 1x1 convolution keeps PyTorch's kernel; the linear layer beside it not
    with force_kernels(linear="onednn", conv1x1="onednn"):
        assert _onednn_calls(run) == (1 if case in ("strided", "padded") else 0)
    fc_out, fc_ref, conv_out, conv_ref = run()
    torch.testing.assert_close(fc_out, fc_ref)
    torch.testing.assert_close(conv_out, conv_ref)


def test_flop_counter_counts_the_products_like_pytorchs_layers(policy):
    torch.manual_seed(0)
    conv, fc = Conv2d(16, 32, 1), Linear(64, 8)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    y = torch.randn(5, 64, requires_grad=True)
    counts = []
    for c, f in ((conv, fc), (torch.nn.Conv2d(16, 32, 1), torch.nn.Linear(64, 8))):
        with FlopCounterMode(display=False) as counter:
            (c(x).sum() + f(y).sum()).backward()
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] == 3 * (2 * 2 * 16 * 32 * 64 + 2 * 5 * 64 * 8)
