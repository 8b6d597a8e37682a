"""Convolutions whose CPU kernel is measured per shape class: ``Conv2d`` and ``ConvTranspose2d``
are drop-in ``nn.Conv2d`` / ``nn.ConvTranspose2d`` modules (same parameters, same state-dict
keys), so model code reads ``self.conv(x)``.

Ops and candidates (:mod:`detkit.ops.tuner` picks; ``pytorch`` is ATen's own kernel, oneDNN
for float32 CPU convolutions):

* ``conv3x3``: a 3×3 stride-1 float32 NCHW convolution: ``pytorch``, ``nnpack`` (NNPACK's
  Winograd, :mod:`detkit.ops.nnpack`; batched algorithm on a batch) or ``nnpack_per_image``
  (its single-image algorithm per image, for batches);
* ``conv3x3_input_grad``: the input's gradient of such a convolution (the "full" 3×3
  convolution of the output's gradient with the flipped, transposed kernel), same candidates;
* ``conv3x3_weight_grad``: the kernel's gradient: ``pytorch``, ``winograd_onednn`` or
  ``winograd_mkl`` (Winograd's F(4×4, 3×3), :mod:`detkit.ops.winograd`, its products by
  oneDNN or by one batched MKL GEMM);
* ``conv1x1``, ``conv1x1_backward``: unstrided 1×1 convolutions (:mod:`detkit.ops.gemm`);
* ``deconv``: ``ConvTranspose2d`` on the input's layout (``pytorch``) or on a channels_last
  copy (``channels_last``; its output is then channels_last).

Shape classes: :func:`detkit.ops.shape_class.map_class` of the input with ``C_in>C_out``
and the padding. Winograd's results differ from a direct convolution by ~4e-6 relative (norm
of the difference over the output's norm; up to ~1e-5 of the largest output), the Winograd
kernel gradient by ~3e-6. channels_last inputs, autocast and other dtypes keep PyTorch's
kernels, as do ``torch.compile``, export and tracing; ``detkit.ops.fast_kernels(False)`` turns
all of it off, ``torch.backends.nnpack.flags(enabled=False)`` the NNPACK candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from detkit.ops import nnpack, tuner, winograd
from detkit.ops.gemm import conv1x1
from detkit.ops.shape_class import TimingInput, map_class, timing_crop
from detkit.ops.switch import STOCK, fast_kernels_enabled, traced

__all__ = ["Conv2d", "ConvTranspose2d", "conv2d", "conv_transpose2d", "conv3x3_applies"]

Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]
Calls = dict[str, Callable[[], torch.Tensor]]


def conv3x3_applies(layer: nn.Conv2d, x: torch.Tensor) -> bool:
    """``layer`` on ``x`` is a 3×3 conv whose kernels detkit chooses: fast kernels on, not
    traced, a non-empty float32 NCHW map that NNPACK could convolve
    (:func:`detkit.ops.nnpack.applies`)."""
    return fast_kernels_enabled() and not traced() and x.numel() > 0 and nnpack.applies(layer, x)


def _stock_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    padding: int,
    mask: tuple[bool, bool, bool],
) -> Grads:
    bias_sizes = [weight.size(0)] if mask[2] else None
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = torch.ops.aten.convolution_backward(
        grad, x, weight, bias_sizes, [1, 1], [padding] * 2, [1, 1], False, [0, 0], 1, list(mask)
    )
    return out[0], out[1], out[2]


def _nnpack_candidates(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
) -> Calls:
    """The NNPACK candidates on ``x`` (a per-image one for batches); none where NNPACK may
    not run now (:func:`detkit.ops.nnpack.usable`)."""
    if not nnpack.usable():
        return {}
    calls: Calls = {"nnpack": lambda: nnpack.conv(x, weight, bias, padding)}
    if x.size(0) > 1:
        calls["nnpack_per_image"] = lambda: nnpack.conv_per_image(x, weight, bias, padding)
    return calls


def _as_whole_map(calls: Calls, x: torch.Tensor, timing: TimingInput) -> Calls:
    """``calls`` on the timed input under the names of the candidates they stand for on all
    of ``x``: NNPACK timed on one cropped image of a batch stands for NNPACK image by image."""
    if timing.spatial and x.size(0) > 1 and "nnpack" in calls:
        calls = dict(calls)
        calls["nnpack_per_image"] = calls.pop("nnpack")
    return calls


def _partner(timing: TimingInput, other: torch.Tensor, grow: int) -> torch.Tensor:
    """``other`` (the conv's input or output gradient beside the timed tensor) cut like the
    timed tensor, its map ``grow`` pixels larger per side pair (the padding's effect)."""
    if timing.spatial:
        rows, cols = timing.tensor.size(2) + grow, timing.tensor.size(3) + grow
        return other[:1, :, :rows, :cols].contiguous()
    return other[: timing.tensor.size(0)]


def _forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
) -> torch.Tensor:
    """The 3×3 conv of ``x`` with the kernel chosen for its shape class (``conv3x3``)."""
    shape = map_class(x, f"{weight.size(1)}>{weight.size(0)} p{padding}")

    def calls(t: torch.Tensor) -> Calls:
        stock: Calls = {STOCK: lambda: F.conv2d(t, weight, bias, 1, padding)}
        return stock | _nnpack_candidates(t, weight, bias, padding)

    timing = timing_crop(x)
    if timing.tensor is x:
        return tuner.run("conv3x3", shape, calls(x))
    timed = _as_whole_map(calls(timing.tensor), x, timing)
    return calls(x)[tuner.choose("conv3x3", shape, timed, timing.scale)]()


def _input_grad(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, padding: int
) -> torch.Tensor | None:
    """``x``'s gradient by the kernel chosen for ``conv3x3_input_grad``; None where PyTorch's
    ``convolution_backward`` is chosen (computed with the weight's gradient then)."""
    kernel = weight.flip(2, 3).transpose(0, 1).contiguous()
    shape = map_class(grad, f"{weight.size(0)}>{weight.size(1)} p{padding}")

    def calls(g: torch.Tensor, like: torch.Tensor) -> Calls:
        def stock() -> torch.Tensor:
            grad_x = _stock_backward(g, like, weight, padding, (True, False, False))[0]
            assert grad_x is not None
            return grad_x

        return {STOCK: stock} | _nnpack_candidates(g, kernel, None, 2 - padding)

    timing = timing_crop(grad)
    partner = _partner(timing, x, 2 - 2 * padding)
    timed = _as_whole_map(calls(timing.tensor, partner), grad, timing)
    choice = tuner.choose("conv3x3_input_grad", shape, timed, timing.scale)
    return None if choice == STOCK else calls(grad, x)[choice]()


def _weight_grad(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, padding: int
) -> torch.Tensor | None:
    """The kernel's gradient by the kernel chosen for ``conv3x3_weight_grad``; None where
    PyTorch's ``convolution_backward`` is chosen."""
    shape = map_class(x, f"{weight.size(1)}>{weight.size(0)} p{padding}")

    def calls(g: torch.Tensor, t: torch.Tensor) -> Calls:
        def stock() -> torch.Tensor:
            grad_weight = _stock_backward(g, t, weight, padding, (False, True, False))[1]
            assert grad_weight is not None
            return grad_weight

        return {
            STOCK: stock,
            "winograd_onednn": lambda: winograd.conv3x3_weight_grad(t, g, padding, "onednn"),
            "winograd_mkl": lambda: winograd.conv3x3_weight_grad(t, g, padding, "mkl"),
        }

    timing = timing_crop(x)
    partner = _partner(timing, grad, 2 * padding - 2)
    choice = tuner.choose("conv3x3_weight_grad", shape, calls(partner, timing.tensor), timing.scale)
    return None if choice == STOCK else calls(grad, x)[choice]()


class _Conv3x3(torch.autograd.Function):
    """3×3 stride-1 convolution whose forward, input gradient and kernel gradient each take
    the kernel measured fastest for their shape class."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        return _forward(x, weight, bias, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad = grad.contiguous()
        grad_x = _input_grad(grad, x, weight, ctx.padding) if need_x else None
        grad_weight = _weight_grad(grad, x, weight, ctx.padding) if need_weight else None
        stock = (need_x and grad_x is None, need_weight and grad_weight is None, need_bias)
        if stock[0] or stock[1]:
            grads = _stock_backward(grad, x, weight, ctx.padding, stock)
            grad_x = grads[0] if stock[0] else grad_x
            grad_weight = grads[1] if stock[1] else grad_weight
            grad_bias = grads[2]
        else:
            grad_bias = grad.sum((0, 2, 3)) if need_bias else None
        return grad_x, grad_weight, grad_bias, None


def conv2d(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s convolution of ``x`` ``[B, C_in, H, W]`` → ``[B, C_out, H', W']``: a 3×3
    stride-1 one by the kernels measured fastest (see the module docstring), an unstrided
    1×1 one likewise (:func:`detkit.ops.gemm.conv1x1`), any other by ``layer``'s own."""
    if conv3x3_applies(layer, x):
        padding = int(layer.padding[0])
        if torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in layer.parameters())
        ):
            out: torch.Tensor = _Conv3x3.apply(x, layer.weight, layer.bias, padding)
            return out
        return _forward(x, layer.weight, layer.bias, padding)
    gemm_out = conv1x1(layer, x)
    return gemm_out if gemm_out is not None else layer._conv_forward(x, layer.weight, layer.bias)


def conv_transpose2d(layer: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s transposed convolution of ``x`` ``[B, C_in, H, W]`` →
    ``[B, C_out, H', W']``, on ``x``'s layout or on a channels_last copy of a CPU map,
    whichever measured faster for the shape class (``deconv``)."""

    def stock() -> torch.Tensor:
        return nn.ConvTranspose2d.forward(layer, x)

    if not (fast_kernels_enabled() and not traced() and x.device.type == "cpu" and x.dim() == 4):
        return stock()
    if x.is_contiguous(memory_format=torch.channels_last):
        return stock()
    channels_last = x.contiguous(memory_format=torch.channels_last)
    shape = map_class(x, f"{layer.in_channels}>{layer.out_channels} k{layer.kernel_size[0]}")
    candidates: Calls = {
        STOCK: stock,
        "channels_last": lambda: nn.ConvTranspose2d.forward(layer, channels_last),
    }
    if torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad):
        with torch.no_grad():
            choice = tuner.choose("deconv", shape, candidates)
        return candidates[choice]()
    return tuner.run("deconv", shape, candidates)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose CPU kernels are chosen by measurement (:func:`conv2d`). Same
    arguments, parameters and results (to float rounding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(self, x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose CPU layout is chosen by measurement
    (:func:`conv_transpose2d`); ``output_size`` is not supported."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            raise ValueError("detkit.ops.ConvTranspose2d does not take output_size")
        return conv_transpose2d(self, x)
