"""Linear layers and unstrided 1×1 convolutions with their matrix products measured per shape
class: PyTorch's kernel (``pytorch``: MKL's GEMM for ``nn.Linear`` and, at one thread, for an
unstrided 1×1 ``nn.Conv2d``; oneDNN's convolution otherwise) or oneDNN's matmul
(``onednn``: ``torch.ops.mkldnn._linear_pointwise``, the kernel inductor picks for linear
layers). On AMD CPUs MKL keeps its AVX2 kernels where the CPU has AVX-512, whereas oneDNN's
matmul runs 512-bit ones; which is faster depends on the CPU and the shape, so
:mod:`detkit.ops.tuner` measures it.

Ops: ``linear`` and ``linear_backward`` (shape class: rows ``M`` in power-of-two classes, ``K>N``),
``conv1x1`` and ``conv1x1_backward`` (:func:`detkit.ops.shape_class.map_class` with
``C_in>C_out``); the backward ops' classes also name the gradients asked for.

oneDNN reads a transposed operand in place, so the NCHW 1×1 convolution of image ``b`` is one
product ``W [C_out, C_in] · X_b [C_in, H·W]`` without a copy, and a channels_last one is a single
product over the whole batch. The gradients are products too: ``dX_b = Wᵀ · dY_b``,
``dW = Σ_b dY_b · X_bᵀ``, ``dx = dy · W`` and ``dW = dyᵀ · x`` for a linear layer. Results
differ from MKL's by float rounding (~1e-6 relative).

These paths apply to float32 CPU tensors with fast kernels on, outside autocast,
``torch.compile`` and export (which keep PyTorch's ops, so that inductor and the ONNX exporter see
``aten.linear`` / ``aten.convolution``), and only while oneDNN is enabled
(``torch.backends.mkldnn.flags``). ``torch.utils.flop_counter`` counts them as the products they
compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.utils.flop_counter import flop_registry, register_flop_formula

from detkit.ops import tuner
from detkit.ops.shape_class import TIMING_ROWS, map_class, rows_class, timing_crop
from detkit.ops.switch import STOCK, fast_kernels_enabled, traced

__all__ = ["Linear", "conv1x1", "linear", "onednn_matmul"]

_ONEDNN_LINEAR = torch.ops.mkldnn._linear_pointwise.default
Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]
Calls = dict[str, Callable[[], torch.Tensor]]
GradCalls = dict[str, Callable[[], Grads]]

if torch.ops.mkldnn._linear_pointwise not in flop_registry:

    @register_flop_formula(torch.ops.mkldnn._linear_pointwise)
    def _onednn_linear_flop(
        a_shape: list[int], *args: Any, out_shape: list[int] | None = None, **kwargs: Any
    ) -> int:
        """``a [.., K] · wᵀ`` → ``[.., N]``: 2·K FLOPs per output value (one multiply-add = 2)."""
        outputs = 1
        for size in out_shape or ():
            outputs *= size
        return 2 * a_shape[-1] * outputs


def _dense(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` itself when row- or column-major dense, else a contiguous copy: oneDNN
    takes a slow reference kernel for any other strides (a slice of a wider matrix, an
    expanded gradient)."""
    return matrix if matrix.is_contiguous() or matrix.t().is_contiguous() else matrix.contiguous()


def onednn_matmul(
    a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``a [M, K] · b [K, N] (+ bias [N])`` → contiguous ``[M, N]`` by oneDNN; a transposed
    ``a`` or ``b`` is read in place, other strides are copied first."""
    out: torch.Tensor = _ONEDNN_LINEAR(_dense(a), _dense(b).t(), bias, "none", [], "")
    return out


def _applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """oneDNN is a candidate for the products of ``x`` with ``weight`` (module docstring)."""
    return (  # traced first: a traced size (an exported detection count) takes no guard
        fast_kernels_enabled()
        and not traced()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.numel() > 0
        and torch._C._get_mkldnn_enabled()
        and not torch.is_autocast_enabled("cpu")
    )


def _wants_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _needs(mask: tuple[bool, ...]) -> str:
    return "+".join(n for n, m in zip(("dx", "dw", "db"), mask) if m) or "none"


def _linear_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``x [M, K] · Wᵀ + b`` by the kernel chosen for the shape class (``linear``)."""
    shape = f"{rows_class(x.size(0))} {x.size(1)}>{weight.size(0)}"

    def calls(a: torch.Tensor) -> Calls:
        return {
            STOCK: lambda: F.linear(a, weight, bias),
            "onednn": lambda: onednn_matmul(a, weight.t(), bias),
        }

    if x.size(0) <= TIMING_ROWS:
        return tuner.run("linear", shape, calls(x))
    choice = tuner.choose("linear", shape, calls(x[:TIMING_ROWS]), x.size(0) / TIMING_ROWS)
    return calls(x)[choice]()


def _linear_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mask: tuple[bool, bool, bool]
) -> Grads:
    shape = f"{rows_class(x.size(0))} {x.size(1)}>{weight.size(0)} {_needs(mask)}"

    def calls(g: torch.Tensor, a: torch.Tensor) -> GradCalls:
        def products(matmul: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Grads:
            grad_x = matmul(g, weight) if mask[0] else None
            grad_weight = matmul(g.t(), a) if mask[1] else None
            return grad_x, grad_weight, g.sum(0) if mask[2] else None

        return {STOCK: lambda: products(torch.mm), "onednn": lambda: products(onednn_matmul)}

    if x.size(0) <= TIMING_ROWS:
        return tuner.run("linear_backward", shape, calls(grad, x))
    crops = grad[:TIMING_ROWS], x[:TIMING_ROWS]
    choice = tuner.choose("linear_backward", shape, calls(*crops), x.size(0) / TIMING_ROWS)
    return calls(grad, x)[choice]()


class _Linear(torch.autograd.Function):
    """``x [M, K] · Wᵀ + b`` whose forward and gradient products take the kernels measured
    fastest."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _linear_forward(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Grads:
        x, weight = ctx.saved_tensors
        mask = tuple(ctx.needs_input_grad)
        return _linear_backward(_dense(grad), x, weight, (mask[0], mask[1], mask[2]))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for ``x [..., K]``, ``weight [N, K]`` → ``[..., N]``,
    with the products measured fastest (see the module docstring)."""
    if not _applies(x, weight) or x.dim() < 2:
        return F.linear(x, weight, bias)
    flat = _dense(x.reshape(-1, x.size(-1)))
    out: torch.Tensor
    if _wants_grad(x, weight, bias):
        out = _Linear.apply(flat, weight, bias)
    else:
        out = _linear_forward(flat, weight, bias)
    return out.view(*x.shape[:-1], weight.size(0))


def _conv1x1_nchw(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``[B, C_out, H, W]`` = ``weight [C_out, C_in]`` · each image of NCHW-contiguous ``x``."""
    batch, channels, height, width = x.shape
    images = [onednn_matmul(weight, image) for image in x.view(batch, channels, height * width)]
    out = images[0].unsqueeze(0) if batch == 1 else torch.stack(images)
    return out.view(batch, weight.size(0), height, width)


def _conv1x1_onednn(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """The 1×1 convolution of ``x`` (NCHW or channels_last contiguous) with ``weight``
    ``[C_out, C_in, 1, 1]`` as oneDNN products, output in ``x``'s layout."""
    weight = weight.flatten(1)
    if x.is_contiguous():
        out = _conv1x1_nchw(x, weight)
        return out if bias is None else out.add_(bias.view(1, -1, 1, 1))
    batch, channels, height, width = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, channels)  # a view: x is channels_last
    out = onednn_matmul(rows, weight.t(), bias)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2)


def _conv1x1_onednn_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mask: tuple[bool, bool, bool]
) -> Grads:
    """The gradients of :func:`_conv1x1_onednn` as oneDNN products."""
    batch, channels, height, width = x.shape
    matrix = weight.flatten(1)
    grad_x: torch.Tensor | None = None
    grad_weight: torch.Tensor | None = None
    if x.is_contiguous():
        grad = grad.contiguous()
        if mask[0]:
            grad_x = _conv1x1_nchw(grad, matrix.t())
        if mask[1]:
            grads = grad.view(batch, -1, height * width)
            images = x.view(batch, channels, height * width)
            grad_weight = onednn_matmul(grads[0], images[0].t())
            for g, image in zip(grads[1:], images[1:]):
                grad_weight += onednn_matmul(g, image.t())
    else:
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad_rows = grad.permute(0, 2, 3, 1).reshape(-1, grad.size(1))
        if mask[0]:
            rows = onednn_matmul(grad_rows, matrix)
            grad_x = rows.view(batch, height, width, channels).permute(0, 3, 1, 2)
        if mask[1]:
            grad_weight = onednn_matmul(grad_rows.t(), x.permute(0, 2, 3, 1).reshape(-1, channels))
    if grad_weight is not None:
        grad_weight = grad_weight.view_as(weight)
    return grad_x, grad_weight, grad.sum((0, 2, 3)) if mask[2] else None


def _conv1x1_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``x``'s 1×1 convolution by the kernel chosen for its shape class (``conv1x1``)."""
    shape = map_class(x, f"{weight.size(1)}>{weight.size(0)}")

    def calls(t: torch.Tensor) -> Calls:
        return {
            STOCK: lambda: F.conv2d(t, weight, bias),
            "onednn": lambda: _conv1x1_onednn(t, weight, bias),
        }

    timing = timing_crop(x)
    if timing.tensor is x:
        return tuner.run("conv1x1", shape, calls(x))
    return calls(x)[tuner.choose("conv1x1", shape, calls(timing.tensor), timing.scale)]()


def _conv1x1_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mask: tuple[bool, bool, bool]
) -> Grads:
    shape = f"{map_class(x, f'{weight.size(1)}>{weight.size(0)}')} {_needs(mask)}"

    def calls(g: torch.Tensor, t: torch.Tensor) -> GradCalls:
        def stock() -> Grads:
            bias_sizes = [weight.size(0)] if mask[2] else None
            out: Grads = torch.ops.aten.convolution_backward(
                g, t, weight, bias_sizes, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, list(mask)
            )
            return out[0], out[1], out[2]

        return {STOCK: stock, "onednn": lambda: _conv1x1_onednn_backward(g, t, weight, mask)}

    timing = timing_crop(x)
    if timing.tensor is x:
        return tuner.run("conv1x1_backward", shape, calls(grad, x))
    crop = timing.tensor
    g_crop = grad[: crop.size(0), :, : crop.size(2), : crop.size(3)]
    if timing.spatial:
        layout = torch.contiguous_format if crop.is_contiguous() else torch.channels_last
        g_crop = g_crop.contiguous(memory_format=layout)
    choice = tuner.choose("conv1x1_backward", shape, calls(g_crop, crop), timing.scale)
    return calls(grad, x)[choice]()


class _Conv1x1(torch.autograd.Function):
    """Unstrided 1×1 convolution whose forward and gradients take the kernels measured
    fastest."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _conv1x1_forward(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Grads:
        x, weight = ctx.saved_tensors
        mask = tuple(ctx.needs_input_grad)
        return _conv1x1_backward(grad, x, weight, (mask[0], mask[1], mask[2]))


def _conv1x1_applies(layer: nn.Conv2d, x: torch.Tensor) -> bool:
    return (
        layer.kernel_size == (1, 1)
        and layer.stride == (1, 1)
        and layer.padding == (0, 0)
        and layer.groups == 1
        and x.dim() == 4
        and _applies(x, layer.weight)
        and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
    )


def conv1x1(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor | None:
    """``layer(x)`` with the kernels measured fastest when ``layer`` is an unstrided, unpadded
    1×1 convolution and ``x`` ``[B, C_in, H, W]`` a float32 CPU map (NCHW or channels_last,
    output in the same layout); None otherwise."""
    if not _conv1x1_applies(layer, x):
        return None
    if _wants_grad(x, layer.weight, layer.bias):
        out: torch.Tensor = _Conv1x1.apply(x, layer.weight, layer.bias)
        return out
    return _conv1x1_forward(x, layer.weight, layer.bias)


class Linear(nn.Linear):
    """``nn.Linear`` whose float32 CPU products take the kernels measured fastest
    (:func:`linear`). Same arguments, parameters and results (to float rounding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
