"""RoIMosaic: a 3×3 conv stack on the mosaic of RoI maps gives the per-map results and
gradients; roi_conv_stack (FCNMaskHead's convs) runs it where it is chosen, with the per-RoI
results and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from detkit.models.roi_heads.mask_head import FCNMaskHead
from detkit.ops import RoIMosaic, force_kernels, roi_conv_stack


class _Ops(TorchDispatchMode):
    """Records the names of the ops dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


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
@pytest.mark.parametrize("conv_kernel", ["nnpack", "pytorch"])
def test_mask_head_on_the_mosaic_gives_the_per_roi_results(conv_kernel):
    torch.manual_seed(0)
    head = FCNMaskHead(num_convs=2, in_channels=32, conv_out_channels=32, num_classes=3)
    x = torch.randn(20, 32, 14, 14)
    labels = torch.arange(20) % 3
    results = []
    for layout in ("mosaic", "per_roi"):
        head.zero_grad()
        x_in = x.clone().requires_grad_()
        pins = dict(roi_mosaic=layout, conv3x3=conv_kernel, conv3x3_input_grad=conv_kernel)
        with force_kernels(pins), _Ops() as ops:
            out = head(x_in, labels)
            out.sum().backward()
        calls = ops.names.count("aten._nnpack_spatial_convolution")
        # one NNPACK call per layer, forward and input gradient, on the mosaic (single-image
        # algorithm) or on the batch
        if conv_kernel == "nnpack":
            assert calls == {"mosaic": 2 + 2, "per_roi": 2 + 2}[layout]
        grads = [p.grad.clone() for p in head.parameters() if p.grad is not None]
        results.append([out, x_in.grad, *grads])
    assert len(results[0]) == len(results[1]) > 2
    # values: Winograd's rounding, ~6e-6 of the norm (as for the FPN convs, test_conv);
    # gradients: also the ReLUs whose input that rounding moves across 0 (the float64 test
    # above checks the mosaic's gradients exactly)
    for i, (got, want) in enumerate(zip(*results)):
        tol = 2e-5 if i == 0 else 2e-2
        assert got.shape == want.shape
        assert ((got - want).norm() / want.norm()).item() < tol


def test_stack_without_a_pixelwise_layer_or_with_one_map_stays_per_roi():
    torch.manual_seed(0)
    convs = [torch.nn.Conv2d(8, 8, 3, padding=1) for _ in range(2)]
    x = torch.randn(6, 8, 14, 14)
    ref = convs[1](convs[0](x))
    with force_kernels(roi_mosaic="mosaic"):
        for maps, pixelwise in ((x, None), (x[:1], convs)):
            with _Ops() as ops:
                out = roi_conv_stack(convs, maps, pixelwise)
            assert "aten.as_strided" not in ops.names  # no mosaic packed
            torch.testing.assert_close(out, ref[: maps.size(0)], rtol=1e-4, atol=1e-4)


def test_measured_choice_gives_the_per_roi_results():
    torch.manual_seed(0)
    convs = [torch.nn.Conv2d(16, 16, 3, padding=1) for _ in range(3)]
    x = torch.randn(12, 16, 14, 14)
    with torch.no_grad():
        out = roi_conv_stack(convs, x, convs)
        ref = convs[2](convs[1](convs[0](x)))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
