"""Swin Transformer blocks with MMDetection v2 names: ``WindowMSA`` (``qkv``, ``proj``,
``relative_position_bias_table``, ``relative_position_index``), ``ShiftWindowMSA``
(``w_msa``), ``SwinBlock`` (``norm1``, ``attn``, ``norm2``, ``ffn``) and
``SwinBlockSequence`` (``blocks``, ``downsample``).

Token maps are ``[B, H·W, C]`` with their ``(H, W)`` passed beside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as activation_checkpoint

from detkit.models.layers import FFN, DropPath, PatchMerging, build_norm_layer

__all__ = ["ShiftWindowMSA", "SwinBlock", "SwinBlockSequence", "WindowMSA"]


def _relative_position_index(height: int, width: int) -> torch.Tensor:
    """``[N, N]`` (``N = height·width``) index into the ``(2h-1)·(2w-1)`` bias table of the
    offset between window positions (mmdet's layout: row-major offsets, flipped columns)."""
    coords = (
        torch.arange(0, (2 * width - 1) * height, 2 * width - 1)[:, None]
        + torch.arange(width)[None, :]
    ).reshape(1, -1)
    return (coords + coords.T).flip(1).contiguous()


class WindowMSA(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative position bias.

    ``[num_windows·B, N, C]`` (``N = Wh·Ww``) → same shape; ``mask`` ``[num_windows, N, N]``
    (0 or -100) separates the regions a shifted window joins.
    """

    relative_position_index: torch.Tensor  # buffer [N, N]

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: tuple[int, int],
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed_dims, self.num_heads, self.window_size = embed_dims, num_heads, window_size
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        wh, ww = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads)
        )
        self.register_buffer("relative_position_index", _relative_position_index(wh, ww))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        index: torch.Tensor = self.relative_position_index
        bias = self.relative_position_bias_table[index.view(-1)].view(tokens, tokens, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(batch // windows, windows, self.num_heads, tokens, tokens)
            attn = (attn + mask[None, :, None]).view(-1, self.num_heads, tokens, tokens)
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, channels)
        result: torch.Tensor = self.proj_drop(self.proj(out))
        return result


class ShiftWindowMSA(nn.Module):
    """Window attention over a map padded (bottom/right, zeros) to whole windows, the windows
    shifted by ``shift_size`` (cyclic roll, with the attention mask keeping the rolled-in
    regions apart) when ``shift_size > 0``. ``([B, H·W, C], (H, W))`` → ``[B, H·W, C]``."""

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, {window_size}), got {shift_size}")
        self.window_size, self.shift_size = window_size, shift_size
        self.w_msa = WindowMSA(
            embed_dims,
            num_heads,
            (window_size, window_size),
            qkv_bias,
            qk_scale,
            attn_drop_rate,
            proj_drop_rate,
        )
        self.drop = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, H, W, C]`` → ``[B·nW, ws·ws, C]`` (row-major windows)."""
        batch, height, width, channels = x.shape
        ws = self.window_size
        x = x.view(batch, height // ws, ws, width // ws, ws, channels)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, channels)

    def _merge(self, windows: torch.Tensor, height: int, width: int) -> torch.Tensor:
        ws = self.window_size
        x = windows.view(-1, height // ws, width // ws, ws, ws, windows.shape[-1])
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, windows.shape[-1])

    def _mask(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """``[nW, ws², ws²]``: -100 between tokens of different rolled-in regions."""
        ws, shift = self.window_size, self.shift_size
        regions = torch.zeros((1, height, width, 1), device=device)
        spans = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
        for i, rows in enumerate(spans):
            for j, cols in enumerate(spans):
                regions[:, rows, cols, :] = 3 * i + j
        ids = self._windows(regions).squeeze(-1)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)

    def forward(self, query: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        batch, length, channels = query.shape
        height, width = hw_shape
        if length != height * width:
            raise ValueError(f"ShiftWindowMSA: {length} tokens for a {height}×{width} map")
        ws = self.window_size
        x = query.view(batch, height, width, channels)
        pad_r, pad_b = (ws - width % ws) % ws, (ws - height % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        padded_h, padded_w = x.shape[1], x.shape[2]
        mask = None
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = self._mask(padded_h, padded_w, x.device)
        windows = self.w_msa(self._windows(x), mask=mask)
        x = self._merge(windows, padded_h, padded_w)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = x[:, :height, :width, :].reshape(batch, height * width, channels)
        out: torch.Tensor = self.drop(x)
        return out


class SwinBlock(nn.Module):
    """Pre-norm shifted-window attention and FFN, each residual (with stochastic depth)."""

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        window_size: int = 7,
        shift: bool = False,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: Mapping[str, Any] = {"type": "GELU"},  # noqa: B006 - read only
        norm_cfg: Mapping[str, Any] = {"type": "LN"},  # noqa: B006 - read only
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(
            embed_dims,
            num_heads,
            window_size,
            window_size // 2 if shift else 0,
            qkv_bias,
            qk_scale,
            attn_drop_rate,
            drop_rate,
            drop_path_rate,
        )
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims,
            feedforward_channels,
            act_cfg,
            ffn_drop=drop_rate,
            drop_path_rate=drop_path_rate,
        )

    def _inner(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw_shape)
        out: torch.Tensor = self.ffn(self.norm2(x), identity=x)
        return out

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out: torch.Tensor = activation_checkpoint.checkpoint(
                self._inner, x, hw_shape, use_reentrant=False
            )
            return out
        return self._inner(x, hw_shape)


class SwinBlockSequence(nn.Module):
    """``depth`` blocks (every second one shifted) and an optional ``PatchMerging``
    downsample. Returns ``(x_down, down_hw, x, hw)``: the next stage's input and this
    stage's output."""

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        depth: int,
        window_size: int = 7,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float | Sequence[float] = 0.0,
        downsample: PatchMerging | None = None,
        act_cfg: Mapping[str, Any] = {"type": "GELU"},  # noqa: B006 - read only
        norm_cfg: Mapping[str, Any] = {"type": "LN"},  # noqa: B006 - read only
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        rates = (
            list(drop_path_rate)
            if isinstance(drop_path_rate, Sequence)
            else [drop_path_rate] * depth
        )
        if len(rates) != depth:
            raise ValueError(f"drop_path_rate {rates} needs {depth} entries")
        self.blocks = nn.ModuleList(
            SwinBlock(
                embed_dims,
                num_heads,
                feedforward_channels,
                window_size,
                i % 2 == 1,
                qkv_bias,
                qk_scale,
                drop_rate,
                attn_drop_rate,
                rates[i],
                act_cfg,
                norm_cfg,
                with_cp,
            )
            for i in range(depth)
        )
        self.downsample = downsample

    def forward(
        self, x: torch.Tensor, hw_shape: tuple[int, int]
    ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor, tuple[int, int]]:
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw = self.downsample(x, hw_shape)
        return x_down, down_hw, x, hw_shape
