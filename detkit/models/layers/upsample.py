"""Upsampling layers from mmcv ``upsample_cfg`` dicts: ``build_upsample_layer``.

Types: ``nearest`` / ``bilinear`` (``nn.Upsample``), ``deconv`` (transposed convolution),
``pixel_shuffle`` (:class:`PixelShufflePack`, key ``upsample_conv``), ``carafe``
(:class:`~detkit.models.layers.carafe.CARAFEPack`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers.carafe import CARAFEPack
from detkit.models.layers.weight_init import xavier_init
from detkit.ops import ConvTranspose2d

__all__ = ["UPSAMPLE_TYPES", "PixelShufflePack", "build_upsample_layer"]


class PixelShufflePack(nn.Module):
    """A conv to ``out_channels · s²`` channels followed by ``pixel_shuffle``:
    ``[B, in_channels, H, W]`` → ``[B, out_channels, s·H, s·W]`` (mmcv's)."""

    def __init__(
        self, in_channels: int, out_channels: int, scale_factor: int, upsample_kernel: int
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor
        self.upsample_kernel = upsample_kernel
        self.upsample_conv = nn.Conv2d(
            in_channels,
            out_channels * scale_factor * scale_factor,
            upsample_kernel,
            padding=(upsample_kernel - 1) // 2,
        )
        self.init_weights()

    def init_weights(self) -> None:
        xavier_init(self.upsample_conv, distribution="uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), self.scale_factor)


def _upsample(mode: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        kwargs.setdefault("mode", mode)
        return nn.Upsample(**kwargs)

    return build


UPSAMPLE_TYPES: dict[str, Callable[..., nn.Module]] = {
    "nearest": _upsample("nearest"),
    "bilinear": _upsample("bilinear"),
    "deconv": ConvTranspose2d,
    "pixel_shuffle": PixelShufflePack,
    "carafe": CARAFEPack,
}


def build_upsample_layer(cfg: Mapping[str, Any], *args: Any, **kwargs: Any) -> nn.Module:
    """Build the upsampler of ``cfg`` (``type`` plus the layer's arguments)."""
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(f"upsample_cfg must be a dict with a 'type' key, got {cfg!r}")
    kind = cfg["type"]
    if kind not in UPSAMPLE_TYPES:
        raise KeyError(
            f"upsample_cfg type {kind!r} is unknown; expected one of {sorted(UPSAMPLE_TYPES)}"
        )
    return UPSAMPLE_TYPES[kind](*args, **kwargs, **{k: v for k, v in cfg.items() if k != "type"})
