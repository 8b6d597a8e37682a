"""NNPACK's Winograd 3×3 convolution as PyTorch ships it (``torch._nnpack_spatial_convolution``):
where it may run, its thread pool, and the calls :mod:`detkit.ops.conv` times against oneDNN.

NNPACK reads NCHW-contiguous float32 maps, zero padding on both sides, stride 1. Called on a
batch it takes its batched algorithm (6×6 output tiles per image); called per image, its
single-image one (tiles over the whole map). PyTorch never picks NNPACK by itself.

PyTorch creates NNPACK's thread pool at the process's first NNPACK convolution, sized to
``torch.get_num_threads()`` then, and never resizes it. NNPACK is therefore a candidate only
while the thread count equals that size (:func:`pool_threads`); after a change
(``torch.set_num_threads``) the convolutions run on PyTorch's kernels, which follow the new
count, and a warning says once to set the thread count before the first forward pass.
``torch.utils.flop_counter`` counts NNPACK's convolutions as the convolutions they compute.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import conv_flop_count, flop_registry, register_flop_formula

__all__ = ["applies", "conv", "conv_per_image", "pool_threads", "usable"]

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
        return conv_flop_count(x_shape, w_shape, out_shape or [], transposed=False)


@functools.cache
def _ready() -> bool:
    """NNPACK is built in and initialised (the first call initialises it)."""
    return bool(torch._nnpack_available())


_pool_threads: int | None = None  # torch's thread count at this process's first NNPACK conv


def pool_threads() -> int | None:
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
        f"it; with {now} thread(s) now, detkit runs its 3x3 convolutions on PyTorch's kernels. "
        "Set the thread count (torch.set_num_threads / OMP_NUM_THREADS) before the first "
        "forward pass.",
        RuntimeWarning,
        stacklevel=5,
    )


def applies(layer: nn.Conv2d, x: torch.Tensor) -> bool:
    """``layer``'s convolution of ``x`` ``[B, C, H, W]`` is one NNPACK computes (and so is its
    input gradient): a float32 NCHW-contiguous CPU map, a 3×3 stride-1 kernel with zero
    padding 0 or 1, outside autocast."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.is_contiguous()
        and layer.weight.dtype == torch.float32
        and layer.kernel_size == (3, 3)
        and layer.groups == 1
        and layer.stride == (1, 1)
        and layer.dilation == (1, 1)
        and layer.padding_mode == "zeros"
        and layer.padding in ((0, 0), (1, 1))
        and not torch.is_autocast_enabled("cpu")
    )


def usable() -> bool:
    """NNPACK may run now: enabled (``torch.backends.nnpack.flags``), built in, and its pool
    of the current thread count."""
    return torch._C._get_nnpack_enabled() and _ready() and _pool_matches()


def conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
) -> torch.Tensor:
    """NNPACK's 3×3 convolution of contiguous ``x`` ``[B, C_in, H, W]`` with ``weight``
    ``[C_out, C_in, 3, 3]`` → ``[B, C_out, H', W']`` in one call (batched algorithm for
    ``B > 1``)."""
    global _pool_threads
    if _pool_threads is None:  # this call creates NNPACK's pool with the current thread count
        _pool_threads = torch.get_num_threads()
    return torch._nnpack_spatial_convolution(x, weight, bias, [padding, padding])


def conv_per_image(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
) -> torch.Tensor:
    """:func:`conv` one image at a time (NNPACK's single-image algorithm on every image)."""
    if x.size(0) == 1:
        return conv(x, weight, bias, padding)
    return torch.cat([conv(x[i : i + 1], weight, bias, padding) for i in range(x.size(0))])
