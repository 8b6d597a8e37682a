"""Faster CPU calls for the convolutions of RoI heads (batches of small maps).

``conv2d``: a ``Conv2d`` call that takes NNPACK's fast algorithms for batches of small maps.

PyTorch prefers oneDNN over NNPACK whenever both can run a CPU convolution, but for a batch of
RoI features (a mask head's 3×3 convs on ``[100, 256, 14, 14]``) NNPACK's Winograd
convolution is about 2× faster than oneDNN on this project's CPUs (0.050 s vs 0.114 s per conv,
2 threads) with float32 results that differ by ~1e-6. It is used when PyTorch's own NNPACK
conditions hold (CPU, float32, batch >= 16, no dilation or groups, padding < kernel) plus a
3×3 kernel, stride 1, maps of at least 10×10 and no autocast: there NNPACK measured 1.6–2.3×
faster, while on 1×1 kernels or 7×7 maps it was 2–4× slower. The backward pass is PyTorch's
usual one.

``conv_transpose2d``: a ``ConvTranspose2d`` call on a channels_last copy of a CPU input. oneDNN's
transposed convolution is about 1.7× faster on NHWC data (the mask head's 2×2 deconvolution on
``[100, 256, 14, 14]``: 0.078 s vs 0.135 s, 2 threads); the output is channels_last.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn

__all__ = ["conv2d", "conv_transpose2d"]

_MIN_BATCH = 16  # PyTorch's own NNPACK threshold
_MIN_SIDE = 10  # smaller maps were as fast or faster with oneDNN


@functools.cache
def _nnpack_ready() -> bool:
    """NNPACK is built in and initialised (the first call initialises it)."""
    return bool(torch._nnpack_available())


def _use_nnpack(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
            and x.size(0) >= _MIN_BATCH and min(x.shape[2:]) >= _MIN_SIDE and x.is_contiguous()
            and conv.weight.dtype == torch.float32 and conv.kernel_size == (3, 3)
            and conv.groups == 1 and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.padding_mode == "zeros" and conv.padding in ((0, 0), (1, 1))
            and not torch.is_autocast_enabled("cpu")
            and torch._C._get_nnpack_enabled() and _nnpack_ready())


def conv2d(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for ``x`` ``[B, C_in, H, W]`` → ``[B, C_out, H', W']``, through NNPACK when
    it applies (see the module docstring), else through ``conv`` itself."""
    if not _use_nnpack(conv, x):
        return conv(x)
    return torch._nnpack_spatial_convolution(x, conv.weight, conv.bias, list(conv.padding))


def conv_transpose2d(deconv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """``deconv(x)`` for ``x`` ``[B, C_in, H, W]`` → ``[B, C_out, H', W']``; on CPU the input
    is made channels_last first (see the module docstring)."""
    if x.device.type == "cpu" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return deconv(x)
