"""Convolutions that take faster CPU kernels where they apply: ``Conv2d`` and
``ConvTranspose2d`` are drop-in ``nn.Conv2d`` / ``nn.ConvTranspose2d`` modules (same
parameters, same state-dict keys), so model code reads ``self.conv(x)``.

``Conv2d`` (and the functional :func:`conv2d`) takes NNPACK's Winograd algorithm for a 3×3
stride-1 convolution where it measured faster than oneDNN; PyTorch itself prefers oneDNN
whenever both can run a CPU convolution. NNPACK applies to two kinds of float32 input
(``python bench/kernels.py`` has the figures):

* a batch of RoI features (>= 16 maps of >= 10×10, e.g. a mask head's convs), through
  NNPACK's batched algorithm;
* one large map per image (>= 2048 pixels and ``C_in · C_out · H · W >= 2**27``, e.g. the
  FPN and RPN convs on the stride-4 level, the ResNet-50 3×3 convs of layers 2 and 3),
  through NNPACK's single-image algorithm, one image at a time. Smaller maps or fewer
  channels stay on oneDNN, which was as fast or faster there.

A stack of 3×3 convs on RoI maps (the mask head) can instead run on one mosaic of the maps
(:func:`nnpack_mosaic`, :mod:`detkit.ops.roi_mosaic`) where the mosaic, as one image, passes
the single-image rule: NNPACK's single-image algorithm wastes less on tile edges than its
batched one on 14×14 maps.

The thresholds are per instruction set, thread count and OpenMP wait
(:func:`detkit.ops.policy.conv_policy` of this CPU's :func:`detkit.ops.cpu.probe_cpu` and this
process's :func:`detkit.ops.threads.process_openmp_wait`); the figures above are AVX-512's at
one thread.

NNPACK reads NCHW-contiguous float32 maps, so channels_last inputs (a ``channels_last``
model) and autocast keep oneDNN (converting a bf16 map to NCHW float32 for NNPACK measured
slower than oneDNN's bf16 convolution).

Winograd's results differ from a direct convolution by ~4e-6 relative (norm of the
difference over norm of the output; up to ~1e-5 of the largest output). When a gradient is
needed, the input's gradient (the 3×3 convolution of the output's gradient with the flipped,
transposed kernel) goes through NNPACK too, on the same conditions; the kernel's gradient
goes through Winograd's F(4×4, 3×3) algorithm where that measured faster
(:mod:`detkit.ops.winograd`: 256+ channels on 8192+ pixels), else through oneDNN.
``torch.backends.nnpack.flags(enabled=False)`` turns it all off.

PyTorch creates NNPACK's thread pool at the process's first NNPACK convolution, sized to
``torch.get_num_threads()`` then, and never resizes it. NNPACK is therefore taken only while
the thread count equals that size (:func:`nnpack_pool_threads`); after a change
(``torch.set_num_threads``) the convolutions stay on oneDNN, which follows the new count, and
a warning says once to set the thread count before the first forward pass.
``torch.utils.flop_counter`` counts NNPACK's convolutions as the convolutions they compute.

``ConvTranspose2d`` runs on a channels_last copy of a CPU input: oneDNN's transposed
convolution is faster on NHWC data (the mask head's 2×2 deconvolution); its output is
channels_last.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable
from torch.utils.flop_counter import conv_flop_count, flop_registry, register_flop_formula

from detkit.ops import winograd
from detkit.ops.cpu import probe_cpu
from detkit.ops.gemm import conv1x1
from detkit.ops.policy import ConvPolicy, conv_policy
from detkit.ops.roi_mosaic import RoIMosaic
from detkit.ops.threads import OpenMPWait, process_openmp_wait

__all__ = [
    "Conv2d",
    "ConvTranspose2d",
    "conv2d",
    "conv_transpose2d",
    "nnpack_mosaic",
    "nnpack_pool_threads",
]


if torch.ops.aten._nnpack_spatial_convolution not in flop_registry:

    @register_flop_formula(torch.ops.aten._nnpack_spatial_convolution)
    def _nnpack_conv_flop(
        x_shape: list[int],
        w_shape: list[int],
        *args: Any,
        out_shape: list[int] | None = None,
        **kwargs: Any,
    ) -> int:
        """FLOPs of the direct convolution (one multiply-add = 2), as for ``aten.convolution``."""
        return conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


@functools.cache
def _nnpack_ready() -> bool:
    """NNPACK is built in and initialised (the first call initialises it)."""
    return bool(torch._nnpack_available())


_pool_threads: int | None = None  # torch's thread count at this process's first NNPACK conv


def nnpack_pool_threads() -> int | None:
    """The threads of NNPACK's pool (fixed by PyTorch at the first NNPACK convolution of the
    process); None before that convolution."""
    return _pool_threads


def _pool_matches() -> bool:
    """NNPACK's pool has (or, not created yet, will have) ``torch.get_num_threads()`` threads;
    warns once when it does not."""
    if _pool_threads is None or _pool_threads == torch.get_num_threads():
        return True
    _warn_pool_mismatch(_pool_threads, torch.get_num_threads())
    return False


@functools.cache
def _warn_pool_mismatch(pool: int, now: int) -> None:
    warnings.warn(
        f"NNPACK's thread pool was created with {pool} thread(s) and PyTorch cannot resize "
        f"it; with {now} thread(s) now, detkit runs its 3x3 convolutions on oneDNN. Set the "
        "thread count (torch.set_num_threads / OMP_NUM_THREADS) before the first forward pass.",
        RuntimeWarning,
        stacklevel=4,
    )


def _policy() -> ConvPolicy:
    """This CPU's NNPACK thresholds at the current thread count and this process's OpenMP wait."""
    return _policy_at(torch.get_num_threads(), process_openmp_wait())


@functools.cache
def _policy_at(threads: int, wait: OpenMPWait) -> ConvPolicy:
    """This CPU's NNPACK thresholds at ``threads`` threads under ``wait`` (the CPU probed once)."""
    return conv_policy(probe_cpu(), threads, wait)


def _nnpack_faster(
    x: torch.Tensor, out_channels: int, shape: tuple[int, ...] | None = None
) -> bool:
    """NNPACK measured faster than oneDNN on this CPU for a 3×3 stride-1 conv of ``x``
    ``[B, C, H, W]`` (or of a map of ``shape``)."""
    batch, channels, height, width = shape if shape is not None else x.shape
    return _policy().nnpack_faster(batch, channels, out_channels, height, width)


def _use_nnpack(conv: nn.Conv2d, x: torch.Tensor, shape: tuple[int, ...] | None = None) -> bool:
    """NNPACK runs ``conv`` on ``x`` (or on a map of ``shape`` laid out as ``x``)."""
    # the switch first: an exported graph (torch.backends.nnpack.flags(enabled=False)) has
    # symbolic sizes that the size tests below would guard on
    return (
        torch._C._get_nnpack_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.is_contiguous()
        and conv.weight.dtype == torch.float32
        and conv.kernel_size == (3, 3)
        and conv.groups == 1
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and conv.padding in ((0, 0), (1, 1))
        and not torch.is_autocast_enabled("cpu")
        and _nnpack_faster(x, conv.out_channels, shape)
        and _nnpack_ready()
        and _pool_matches()
    )


def nnpack_mosaic(conv: nn.Conv2d, x: torch.Tensor) -> RoIMosaic | None:
    """The :class:`~detkit.ops.roi_mosaic.RoIMosaic` of a batch of RoI maps ``x``
    ``[K, C, h, w]`` (K >= 2) on which ``conv`` (3×3, padding 1) takes NNPACK's single-image
    algorithm, where the policy says NNPACK is faster than oneDNN for the mosaic as one
    image; None otherwise (then ``conv(x)`` keeps its own path)."""
    if not torch._C._get_nnpack_enabled() or x.dim() != 4 or conv.padding != (1, 1):
        return None
    if x.size(0) < 2:
        return None
    mosaic = RoIMosaic.plan(x.size(0), x.size(2), x.size(3))
    return mosaic if _use_nnpack(conv, x, (1, x.size(1), *mosaic.shape)) else None


def _nnpack_conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
) -> torch.Tensor:
    """NNPACK's 3×3 convolution of ``x`` ``[B, C_in, H, W]`` (contiguous) with ``weight``
    ``[C_out, C_in, 3, 3]``; below the policy's ``min_batch`` one image per call (NNPACK's
    single-image algorithm, the fast one for large maps)."""
    global _pool_threads
    if _pool_threads is None:  # this call creates NNPACK's pool with the current thread count
        _pool_threads = torch.get_num_threads()
    if x.size(0) >= _policy().min_batch or x.size(0) == 1:
        return torch._nnpack_spatial_convolution(x, weight, bias, [padding, padding])
    return torch.cat(
        [
            torch._nnpack_spatial_convolution(image, weight, bias, [padding, padding])
            for image in x.split(1)
        ]
    )


class _NNPACKConv3x3(torch.autograd.Function):
    """3×3 stride-1 convolution through NNPACK, whose input gradient is NNPACK's too where
    it is faster."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return _nnpack_conv3x3(x, weight, bias, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad = grad.contiguous()
        grad_x = grad_weight = grad_bias = None
        if need_x and _nnpack_faster(grad, x.size(1)):
            # a stride-1 conv's input gradient: "full" 3×3 conv with the flipped, transposed kernel
            kernel = weight.flip(2, 3).transpose(0, 1).contiguous()
            grad_x = _nnpack_conv3x3(grad, kernel, None, 2 - ctx.padding)
        if need_weight and winograd.faster_than_onednn(x, grad, _policy().weight_grad_min_pixels):
            grad_weight = winograd.conv3x3_weight_grad(x, grad, ctx.padding)
            grad_bias = grad.sum((0, 2, 3)) if need_bias else None
        onednn_mask = [
            need and done is None
            for need, done in zip(
                (need_x, need_weight, need_bias), (grad_x, grad_weight, grad_bias)
            )
        ]
        if any(onednn_mask):
            bias_sizes = [weight.size(0)] if ctx.has_bias else None
            onednn = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                bias_sizes,
                [1, 1],
                [ctx.padding] * 2,
                [1, 1],
                False,
                [0, 0],
                1,
                onednn_mask,
            )
            grad_x, grad_weight, grad_bias = (
                new if needed else done
                for new, needed, done in zip(onednn, onednn_mask, (grad_x, grad_weight, grad_bias))
            )
        return grad_x, grad_weight, grad_bias, None


def conv2d(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv``'s convolution of ``x`` ``[B, C_in, H, W]`` → ``[B, C_out, H', W']``, through
    NNPACK when it applies (see the module docstring), an unstrided 1×1 one as oneDNN products
    where they apply (:func:`detkit.ops.gemm.conv1x1`), else through ``conv``'s own kernel."""
    if not _use_nnpack(conv, x):
        out = conv1x1(conv, x)
        return out if out is not None else conv._conv_forward(x, conv.weight, conv.bias)
    padding = conv.padding[0]
    if torch.is_grad_enabled() and (
        x.requires_grad
        or conv.weight.requires_grad
        or (conv.bias is not None and conv.bias.requires_grad)
    ):
        return _NNPACKConv3x3.apply(x, conv.weight, conv.bias, padding)
    return _nnpack_conv3x3(x, conv.weight, conv.bias, padding)


def conv_transpose2d(deconv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """``deconv``'s transposed convolution of ``x`` ``[B, C_in, H, W]`` →
    ``[B, C_out, H', W']``; on CPU the input is made channels_last first."""
    if x.device.type == "cpu" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return nn.ConvTranspose2d.forward(deconv, x)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose 3×3 stride-1 CPU convolutions take NNPACK where it is faster and
    whose unstrided 1×1 ones take oneDNN's GEMM where that is faster (:func:`conv2d`). Same
    arguments, parameters and results (to float rounding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(self, x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that runs on a channels_last copy of a CPU input
    (:func:`conv_transpose2d`); ``output_size`` is not supported."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            raise ValueError("detkit.ops.ConvTranspose2d does not take output_size")
        return conv_transpose2d(self, x)
