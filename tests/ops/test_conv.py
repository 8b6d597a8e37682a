"""conv2d / conv_transpose2d: every candidate kernel of every conv op (pinned one at a time)
gives nn.Conv2d's values and gradients, the pinned kernel is the one that runs, and other
convolutions keep the layer's own kernel."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from detkit.ops import fast_kernels, force_kernels
from detkit.ops.conv import conv2d, conv3x3_applies, conv_transpose2d

pytestmark = pytest.mark.skipif(not torch._nnpack_available(), reason="NNPACK not built in")


class _Ops(TorchDispatchMode):
    """Records the names of the ops dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _check_values_and_gradients(conv, x, tol):
    """conv2d(conv, x) against conv(x): output, input gradient, weight and bias gradients."""
    x = x.clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    ours = conv2d(conv, x)
    ref = conv(x_ref)
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    params = list(conv.parameters())
    got = torch.autograd.grad(ours, [x, *params], grad)
    want = torch.autograd.grad(ref, [x_ref, *params], grad)
    for a, b in zip(got, want):
        # Winograd: ~4e-6 of the norm; kernel gradients summed over many pixels
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * 10 * max(1.0, b.abs().max().item()))


FORWARD = ["pytorch", "nnpack", "nnpack_per_image"]
WEIGHT_GRAD = ["pytorch", "winograd_onednn", "winograd_mkl"]


@pytest.mark.parametrize("forward", FORWARD)
@pytest.mark.parametrize("weight_grad", WEIGHT_GRAD)
@pytest.mark.parametrize(
    "shape, padding",
    [((20, 16, 14, 14), 1), ((6, 16, 14, 14), 0), ((2, 32, 72, 96), 1)],
    ids=["roi_batch", "roi_batch_unpadded", "large_map_timed_on_a_crop"],
)
def test_every_candidate_gives_conv2d_values_and_gradients(forward, weight_grad, shape, padding):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(shape[1], 24, 3, padding=padding)
    x = torch.randn(*shape)
    assert conv3x3_applies(conv, x)
    choices = dict(conv3x3=forward, conv3x3_input_grad=forward, conv3x3_weight_grad=weight_grad)
    with force_kernels(choices):
        _check_values_and_gradients(conv, x, 1e-4)


@pytest.mark.parametrize("choice, calls", [("pytorch", 0), ("nnpack", 1), ("nnpack_per_image", 3)])
def test_the_pinned_kernel_is_the_one_that_runs(choice, calls):
    conv = torch.nn.Conv2d(8, 8, 3, padding=1).requires_grad_(False)
    x = torch.randn(3, 8, 10, 10)
    with force_kernels(conv3x3=choice), _Ops() as ops:
        conv2d(conv, x)
    assert ops.names.count("aten._nnpack_spatial_convolution") == calls


def test_a_batch_of_large_maps_is_timed_on_a_crop_and_run_image_by_image():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1).requires_grad_(False)
    x = torch.randn(2, 8, 80, 80)  # over the timing crop: measured on one image's crop
    with force_kernels(conv3x3="nnpack_per_image"), _Ops() as ops:
        out = conv2d(conv, x)
    assert ops.names.count("aten._nnpack_spatial_convolution") == 2
    torch.testing.assert_close(out, conv(x), rtol=1e-4, atol=1e-4)


def test_measured_choice_gives_conv2d_results():
    """Whatever the tuner picks here (it times the candidates on this input)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    _check_values_and_gradients(conv, torch.randn(4, 16, 20, 20), 1e-4)


def test_flop_counter_counts_nnpack_convolutions_like_conv2d():
    from torch.utils.flop_counter import FlopCounterMode

    conv = torch.nn.Conv2d(32, 32, 3, padding=1, bias=False)
    x = torch.randn(1, 32, 40, 48, requires_grad=True)
    counts = []
    pins = dict(conv3x3="nnpack", conv3x3_input_grad="nnpack", conv3x3_weight_grad="pytorch")
    with force_kernels(pins):
        for run in (conv2d, lambda c, t: c(t)):
            with FlopCounterMode(display=False) as counter:
                run(conv, x).sum().backward()
            counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] == 3 * 2 * 32 * 32 * 9 * 40 * 48


def test_frozen_conv_gives_only_the_input_gradient():
    conv = torch.nn.Conv2d(16, 16, 3, padding=1).requires_grad_(False)
    x = torch.randn(16, 16, 12, 12, requires_grad=True)
    with force_kernels(conv3x3="nnpack", conv3x3_input_grad="nnpack"):
        conv2d(conv, x).sum().backward()
    assert conv.weight.grad is None and x.grad.shape == x.shape
    ref = torch.autograd.grad(conv(x).sum(), x)[0]
    torch.testing.assert_close(x.grad, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "case",
    ["stride", "groups", "autocast", "float64", "channels_last", "nnpack off", "fast off", "empty"],
)
def test_other_convolutions_keep_the_layers_own_kernel(case):
    conv = torch.nn.Conv2d(
        16,
        16,
        3,
        padding=1,
        stride=2 if case == "stride" else 1,
        groups=4 if case == "groups" else 1,
    )
    x = torch.randn(0 if case == "empty" else 4, 16, 14, 14)
    if case == "float64":
        conv, x = conv.double(), x.double()
    if case == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    with (
        torch.autocast("cpu", torch.bfloat16, enabled=case == "autocast"),
        torch.backends.nnpack.flags(enabled=case != "nnpack off"),
        fast_kernels(case != "fast off"),
        force_kernels(conv3x3="nnpack"),
        _Ops() as ops,
    ):
        out = conv2d(conv, x)
    assert "aten._nnpack_spatial_convolution" not in ops.names
    assert out.shape == conv(x).shape


@pytest.mark.parametrize("choice", ["pytorch", "channels_last"])
def test_conv_transpose2d_candidates_equal_the_deconv(choice):
    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(16, 8, 2, stride=2)
    x = torch.randn(20, 16, 14, 14, requires_grad=True)
    with force_kernels(deconv=choice):
        ours = conv_transpose2d(deconv, x)
    assert ours.is_contiguous(memory_format=torch.channels_last) == (choice == "channels_last")
    x_ref = x.detach().clone().requires_grad_()
    ref = deconv(x_ref)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
