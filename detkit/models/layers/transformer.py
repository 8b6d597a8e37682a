"""Transformer building blocks with mmcv/mmdet names: ``PatchEmbed`` (``projection``,
``norm``), ``PatchMerging`` (``norm``, ``reduction``), ``FFN`` (``layers.0.0``,
``layers.1``), ``DropPath`` and ``AdaptivePadding``.

Token maps are ``[B, L, C]`` (``L = H·W``, row-major) with their ``(H, W)`` passed beside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from detkit.models.layers.conv import build_conv_layer
from detkit.models.layers.conv_module import build_activation
from detkit.models.layers.norm import build_norm_layer

__all__ = ["FFN", "AdaptivePadding", "DropPath", "PatchEmbed", "PatchMerging", "drop_path"]

_PAD_MODES = ("same", "corner")


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero each sample's residual branch with probability ``drop_prob``
    while training and scale the kept ones by ``1 / (1 - drop_prob)``."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = (keep + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep) * mask


class DropPath(nn.Module):
    """:func:`drop_path` as a module (mmcv's ``DropPath``, ``drop_prob`` default 0.1)."""

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)


class AdaptivePadding(nn.Module):
    """Zero-pad ``[B, C, H, W]`` so that a ``kernel_size``/``stride``/``dilation`` window
    covers it completely: at the bottom/right (``'corner'``) or split around it
    (``'same'``, TensorFlow's SAME)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = 1,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        padding: str = "corner",
    ) -> None:
        super().__init__()
        if padding not in _PAD_MODES:
            raise ValueError(
                f"AdaptivePadding padding must be one of {_PAD_MODES}, got {padding!r}"
            )
        self.padding = padding
        self.kernel_size: tuple[int, int] = _pair(kernel_size)
        self.stride: tuple[int, int] = _pair(stride)
        self.dilation: tuple[int, int] = _pair(dilation)

    def get_pad_shape(self, input_shape: tuple[int, int]) -> tuple[int, int]:
        """``(pad_h, pad_w)`` for a map of ``input_shape`` ``(H, W)``."""
        pads = []
        for size, kernel, stride, dilation in zip(
            input_shape, self.kernel_size, self.stride, self.dilation
        ):
            out = math.ceil(size / stride)
            pads.append(max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape((x.shape[-2], x.shape[-1]))
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == "corner":
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchEmbed(nn.Module):
    """Image → patch tokens with one strided conv (``projection``) and an optional ``norm``.

    ``[B, in_channels, H, W]`` → ``([B, h·w, embed_dims], (h, w))``. ``padding`` is an int or
    an :class:`AdaptivePadding` mode.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 768,
        conv_type: str = "Conv2d",
        kernel_size: int = 16,
        stride: int | None = 16,
        padding: int | str = "corner",
        dilation: int = 1,
        bias: bool = True,
        norm_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        stride = kernel_size if stride is None else stride
        self.adap_padding = (
            AdaptivePadding(kernel_size, stride, dilation, padding)
            if isinstance(padding, str)
            else None
        )
        self.projection = build_conv_layer(
            {"type": conv_type},
            in_channels,
            embed_dims,
            kernel_size,
            stride=stride,
            padding=0 if isinstance(padding, str) else padding,
            dilation=dilation,
            bias=bias,
        )
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        size = (int(x.shape[2]), int(x.shape[3]))
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, size


class PatchMerging(nn.Module):
    """Concatenate each ``kernel_size`` window of tokens (``nn.Unfold`` order: channel-major,
    then the window's positions row by row), normalise, and project to ``out_channels``.

    ``([B, H·W, C], (H, W))`` → ``([B, h·w, out_channels], (h, w))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int | None = None,
        padding: int | str = "corner",
        dilation: int = 1,
        bias: bool = False,
        norm_cfg: Mapping[str, Any] | None = {"type": "LN"},  # noqa: B006 - read only
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        stride = stride or kernel_size
        self.adap_padding = (
            AdaptivePadding(kernel_size, stride, dilation, padding)
            if isinstance(padding, str)
            else None
        )
        self.sampler = nn.Unfold(
            kernel_size=kernel_size,
            dilation=dilation,
            padding=0 if isinstance(padding, str) else padding,
            stride=stride,
        )
        sample_dim = kernel_size * kernel_size * in_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)

    def forward(
        self, x: torch.Tensor, input_size: tuple[int, int]
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        batch, length, channels = x.shape
        height, width = input_size
        if length != height * width:
            raise ValueError(f"PatchMerging: {length} tokens for a {height}×{width} map")
        x = x.view(batch, height, width, channels).permute(0, 3, 1, 2)
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        height, width = x.shape[-2:]
        x = self.sampler(x)
        sizes = []
        for size, i in ((height, 0), (width, 1)):
            kernel, stride = _pair(self.sampler.kernel_size)[i], _pair(self.sampler.stride)[i]
            pad, dilation = _pair(self.sampler.padding)[i], _pair(self.sampler.dilation)[i]
            sizes.append((size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1)
        x = x.transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), (sizes[0], sizes[1])


class FFN(nn.Module):
    """Two-layer MLP with a residual connection (mmcv's ``FFN`` with ``num_fcs=2``):
    ``identity + drop_path(fc2(drop(act(fc1(x)))))``, ``[..., embed_dims]`` in and out."""

    def __init__(
        self,
        embed_dims: int = 256,
        feedforward_channels: int = 1024,
        act_cfg: Mapping[str, Any] = {"type": "ReLU", "inplace": True},  # noqa: B006
        ffn_drop: float = 0.0,
        drop_path_rate: float = 0.0,
        add_identity: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.layers = nn.Sequential(
            nn.Sequential(
                nn.Linear(embed_dims, feedforward_channels),
                build_activation(act_cfg),
                nn.Dropout(ffn_drop),
            ),
            nn.Linear(feedforward_channels, embed_dims),
            nn.Dropout(ffn_drop),
        )
        self.dropout_layer = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
