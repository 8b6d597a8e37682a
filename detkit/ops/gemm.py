"""Linear layers and 1×1 convolutions as oneDNN matrix products, where oneDNN's GEMM measured
faster than the BLAS (MKL) that PyTorch calls for them.

PyTorch runs a float32 ``nn.Linear`` and, at one thread, an unstrided 1×1 ``nn.Conv2d`` as
MKL GEMMs. On an AMD CPU MKL takes its AVX2 kernels even where the CPU has AVX-512, whereas
oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the kernel inductor picks for linear
layers) runs 512-bit kernels; capped at AVX2 it is still as fast or faster (``python
bench/kernels.py``, rows ``gemm_*``; figures in the README). :func:`detkit.ops.policy.gemm_policy`
says, per instruction set, which products take it (forward, backward).

oneDNN reads a transposed operand in place, so the NCHW 1×1 convolution of image ``b`` is one
product
``W [C_out, C_in] · X_b [C_in, H·W]`` without a copy, and a channels_last one is a single
product over the whole batch. The gradients are products too: ``dX_b = Wᵀ · dY_b``,
``dW = Σ_b dY_b · X_bᵀ``, ``dx = dy · W`` and ``dW = dyᵀ · x`` for a linear layer. Results
differ from MKL's by float rounding (~1e-6 relative).

These paths apply to float32 CPU tensors outside autocast, ``torch.compile`` and export (which
keep PyTorch's ops, so that inductor and the ONNX exporter see ``aten.linear`` /
``aten.convolution``), and only while oneDNN is enabled (``torch.backends.mkldnn.flags``).
``torch.utils.flop_counter`` counts them as the products they compute.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.utils.flop_counter import flop_registry, register_flop_formula

from detkit.ops.cpu import probe_cpu
from detkit.ops.policy import GemmPolicy, gemm_policy

__all__ = [
    "Linear",
    "conv1x1",
    "linear",
    "onednn_gradients",
    "onednn_matmul",
    "onednn_winograd_products",
]

_ONEDNN_LINEAR = torch.ops.mkldnn._linear_pointwise.default

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


@functools.cache
def _policy() -> GemmPolicy:
    """This CPU's GEMM choice (probed once)."""
    return gemm_policy(probe_cpu())


def onednn_gradients() -> bool:
    """Gradient products go through oneDNN: this CPU's policy says so and oneDNN is enabled."""
    return _policy().backward and torch._C._get_mkldnn_enabled()


def onednn_winograd_products() -> bool:
    """The Winograd kernel gradient's products go through oneDNN (this CPU's policy, oneDNN
    enabled)."""
    return _policy().winograd and torch._C._get_mkldnn_enabled()


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
    return _ONEDNN_LINEAR(_dense(a), _dense(b).t(), bias, "none", [], "")


def _traced() -> bool:
    """Inside ``torch.compile``, ``torch.export`` or a TorchScript trace."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


def _applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """oneDNN may run the forward products of ``x`` with ``weight`` (see the module docstring)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and _policy().forward
        and torch._C._get_mkldnn_enabled()
        and not torch.is_autocast_enabled("cpu")
        and not _traced()
    )


def _wants_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _OneDNNLinear(torch.autograd.Function):
    """``x [M, K] · Wᵀ + b`` whose gradients are oneDNN products too (where the policy says)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return onednn_matmul(x, weight.t(), bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        matmul = onednn_matmul if onednn_gradients() else torch.mm
        grad_x = matmul(grad, weight) if need_x else None
        grad_weight = matmul(grad.t(), x) if need_weight else None
        grad_bias = grad.sum(0) if need_bias else None
        return grad_x, grad_weight, grad_bias


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for ``x [..., K]``, ``weight [N, K]`` → ``[..., N]``,
    by oneDNN where it applies."""
    if not _applies(x, weight) or x.dim() < 2:
        return F.linear(x, weight, bias)
    flat = _dense(x.reshape(-1, x.size(-1)))
    if _wants_grad(x, weight, bias):
        out = _OneDNNLinear.apply(flat, weight, bias)
    else:
        out = onednn_matmul(flat, weight.t(), bias)
    return out.view(*x.shape[:-1], weight.size(0))


def _conv1x1_nchw(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``[B, C_out, H, W]`` = ``weight [C_out, C_in]`` · each image of NCHW-contiguous ``x``."""
    batch, channels, height, width = x.shape
    images = [onednn_matmul(weight, image) for image in x.view(batch, channels, height * width)]
    out = images[0].unsqueeze(0) if batch == 1 else torch.stack(images)
    return out.view(batch, weight.size(0), height, width)


def _conv1x1_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """The 1×1 convolution of ``x`` (NCHW or channels_last contiguous) with ``weight``
    ``[C_out, C_in]``, output in ``x``'s layout."""
    if x.is_contiguous():
        out = _conv1x1_nchw(x, weight)
        return out if bias is None else out.add_(bias.view(1, -1, 1, 1))
    batch, channels, height, width = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, channels)  # a view: x is channels_last
    out = onednn_matmul(rows, weight.t(), bias)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2)


class _OneDNNConv1x1(torch.autograd.Function):
    """Unstrided 1×1 convolution as oneDNN products, forward and (where the policy says)
    backward."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _conv1x1_forward(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        if not onednn_gradients():
            grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight.view(*weight.shape, 1, 1),
                [weight.size(0)] if need_bias else None,
                [1, 1],
                [0, 0],
                [1, 1],
                False,
                [0, 0],
                1,
                [need_x, need_weight, need_bias],
            )
            return grad_x, grad_weight.flatten(1) if need_weight else None, grad_bias
        batch, channels, height, width = x.shape
        grad_x = grad_weight = None
        if x.is_contiguous():
            grad = grad.contiguous()
            grads = grad.view(batch, -1, height * width)
            if need_x:
                grad_x = _conv1x1_nchw(grad, weight.t())
            if need_weight:
                images = x.view(batch, channels, height * width)
                grad_weight = sum(onednn_matmul(g, image.t()) for g, image in zip(grads, images))
        else:
            grad = grad.contiguous(memory_format=torch.channels_last)
            grad_rows = grad.permute(0, 2, 3, 1).reshape(-1, grad.size(1))
            if need_x:
                rows = onednn_matmul(grad_rows, weight)
                grad_x = rows.view(batch, height, width, channels).permute(0, 3, 1, 2)
            if need_weight:
                grad_weight = onednn_matmul(
                    grad_rows.t(), x.permute(0, 2, 3, 1).reshape(-1, channels)
                )
        grad_bias = grad.sum((0, 2, 3)) if need_bias else None
        return grad_x, grad_weight, grad_bias


def _conv1x1_applies(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    return (
        conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.padding == (0, 0)
        and conv.groups == 1
        and x.dim() == 4
        and _applies(x, conv.weight)
        and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
    )


def conv1x1(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor | None:
    """``conv(x)`` by oneDNN products when ``conv`` is an unstrided, unpadded 1×1 convolution
    that oneDNN may run on ``x`` ``[B, C_in, H, W]`` (NCHW or channels_last, output in the same
    layout); None otherwise."""
    if not _conv1x1_applies(conv, x):
        return None
    weight = conv.weight.flatten(1)  # [C_out, C_in], a view sharing the parameter's gradient
    if _wants_grad(x, conv.weight, conv.bias):
        return _OneDNNConv1x1.apply(x, weight, conv.bias)
    return _conv1x1_forward(x, weight, conv.bias)


class Linear(nn.Linear):
    """``nn.Linear`` whose float32 CPU products go through oneDNN where it is faster
    (:func:`linear`). Same arguments, parameters and results (to float rounding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
