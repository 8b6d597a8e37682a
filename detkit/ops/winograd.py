"""The kernel gradient of a 3×3 stride-1 convolution by Winograd's F(4×4, 3×3) algorithm.

A 3×3 convolution's kernel gradient correlates the input ``x`` with the output's gradient
``g``: ``dW[o, i, a, b] = Σ_p g[o, p] · x[i, p + (a, b)]`` (``x`` zero-padded). Cut ``g`` into
4×4 tiles and ``x`` into the 6×6 tiles under them (stride 4); each tile pair contributes a
3×3 correlation that Winograd's algorithm computes with 36 multiplications instead of 144:

    dW = Gᵀ · [ Σ_tiles (Bᵀ x_tile B) ⊙ (A g_tile Aᵀ) ] · G

with Lavin & Gray's F(4×4, 3×3) matrices ``Bᵀ`` [6, 6], ``G`` [6, 3] and ``Aᵀ`` [4, 6] (the
algorithm transposed: the kernel's transform ``G`` maps back, the output's ``Aᵀ`` maps in).
The sum over tiles is one GEMM ``[C_out, T] · [T, C_in]`` per transformed position (36), so
the multiplications drop 4× and the GEMMs keep oneDNN's speed. The transforms are fixed
convolutions with stride 4 (6×6 kernels on ``x``, 4×4 on ``g``), run on bands of two tile
rows so that the transformed bands stay in cache.

The 36 products run as oneDNN matrix products or as one batched MKL GEMM per band
(``products``); :mod:`detkit.ops.conv` times both against PyTorch's kernel gradient per shape
class (on few channels or small maps the transforms cost more than the multiplications
saved). The result differs from the direct sum by ~3e-6 relative (norm of the difference
over the norm of the gradient).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from detkit.ops.gemm import onednn_matmul

__all__ = ["conv3x3_weight_grad"]

Products = Literal["onednn", "mkl"]
_BAND_TILE_ROWS = 2  # tile rows transformed together (the fastest band height measured)

_BT = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))


def _transforms(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The transforms as tensors on ``like``'s device and dtype: ``x``'s ``[36, 1, 6, 6]`` and
    ``g``'s ``[36, 1, 4, 4]`` stride-4 convolution kernels (output channel ``6·i + j``), and
    the inverse ``[9, 36]`` mapping the 36 products to the 3×3 kernel (row ``3·a + b``)."""
    bt, g, at = (torch.tensor(m, dtype=torch.float64) for m in (_BT, _G, _AT))
    x_kernels = torch.einsum("ia,jb->ijab", bt, bt).reshape(36, 1, 6, 6)
    g_kernels = torch.einsum("ai,bj->ijab", at, at).reshape(36, 1, 4, 4)
    inverse = torch.einsum("ia,jb->abij", g, g).reshape(9, 36)
    return (
        x_kernels.to(like.device, like.dtype),
        g_kernels.to(like.device, like.dtype),
        inverse.to(like.device, like.dtype),
    )


def _accumulate(
    products: torch.Tensor, g_tiles: torch.Tensor, x_tiles: torch.Tensor, kind: Products
) -> None:
    """``products[p] += g_tiles[p] · x_tiles[p]ᵀ`` for the 36 positions ``p``
    (``g_tiles [36, C_out, T]``, ``x_tiles [36, C_in, T]``): 36 oneDNN products (``kind``
    ``'onednn'``, float32 CPU tensors with oneDNN enabled), else one batched GEMM.
    (Gathering several bands into longer products was tried: no faster, the buffers cost
    what the longer sums save.)"""
    if not (
        kind == "onednn"
        and torch._C._get_mkldnn_enabled()
        and products.device.type == "cpu"
        and products.dtype == torch.float32
    ):
        products.baddbmm_(g_tiles, x_tiles.transpose(1, 2))
        return
    g_tiles, x_tiles = g_tiles.contiguous(), x_tiles.contiguous()  # dense [C, T] per position
    for position in range(36):
        products[position] += onednn_matmul(g_tiles[position], x_tiles[position].t())


def conv3x3_weight_grad(
    x: torch.Tensor, grad: torch.Tensor, padding: int, products: Products = "onednn"
) -> torch.Tensor:
    """Kernel gradient ``[C_out, C_in, 3, 3]`` of the 3×3 stride-1 convolution with zero
    ``padding`` (0 or 1) that took ``x`` ``[B, C_in, H, W]`` to an output whose gradient is
    ``grad`` ``[B, C_out, H + 2·padding - 2, W + 2·padding - 2]`` (float, same device), the
    products computed as ``products`` says (see :func:`_accumulate`)."""
    batch, in_channels, height, width = x.shape
    out_channels, out_height, out_width = grad.shape[1:]
    tile_rows, tile_cols = -(-out_height // 4), -(-out_width // 4)
    x_kernels, g_kernels, inverse = _transforms(x)
    sums = x.new_zeros(36, out_channels, in_channels)
    for image in range(batch):
        for row0 in range(0, tile_rows, _BAND_TILE_ROWS):
            row1 = min(tile_rows, row0 + _BAND_TILE_ROWS)
            top, bottom = 4 * row0 - padding, 4 * row1 + 2 - padding  # x rows under the band
            x_band = F.pad(
                x[image, :, max(top, 0) : min(bottom, height)],
                (
                    padding,
                    4 * tile_cols + 2 - padding - width,
                    max(-top, 0),
                    max(bottom - height, 0),
                ),
            )
            g_band = grad[image, :, 4 * row0 : 4 * row1]
            g_band = F.pad(
                g_band, (0, 4 * tile_cols - out_width, 0, 4 * (row1 - row0) - g_band.size(1))
            )
            x_tiles = F.conv2d(x_band.unsqueeze(1), x_kernels, stride=4)  # [C_in, 36, rows, cols]
            g_tiles = F.conv2d(g_band.unsqueeze(1), g_kernels, stride=4)  # [C_out, 36, rows, cols]
            _accumulate(
                sums,
                g_tiles.flatten(2).transpose(0, 1),
                x_tiles.flatten(2).transpose(0, 1),
                products,
            )
    kernel = inverse @ sums.view(36, -1)  # [9, C_out * C_in]
    return kernel.view(3, 3, out_channels, in_channels).permute(2, 3, 0, 1).contiguous()
