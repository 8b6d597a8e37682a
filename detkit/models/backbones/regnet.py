"""RegNetX backbone (MMDetection v2 ``RegNet``, Radosavovic et al., 2020).

Stem ``conv1`` (3×3, stride 2) + ``bn1``, then four stages of grouped bottlenecks without
expansion (``layer{1..4}``, keys as ResNet's). Widths, depths and groups come from the
quantised linear rule of the ``arch`` parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from detkit.models.backbones.resnet import Bottleneck, ResLayer, ResNet
from detkit.models.layers import build_conv_layer, build_norm_layer
from detkit.registry import MODELS

__all__ = ["RegNet", "regnet_stages"]

_ARCH_KEYS = ("w0", "wa", "wm", "group_w", "depth", "bot_mul")


class _RegNetBottleneck(Bottleneck):
    """The ResNeXt bottleneck without channel expansion (mmdet sets ``expansion = 1``)."""

    expansion = 1


def regnet_stages(arch: Mapping[str, float]) -> tuple[list[int], list[int], list[int]]:
    """``(stage widths, blocks per stage, group widths)`` of a RegNet ``arch`` dict.

    Block ``j`` has width ``w0 · wm**round(log(1 + j·wa/w0) / log(wm))`` rounded to a
    multiple of 8; consecutive equal widths form a stage; each stage's bottleneck width is
    then rounded to a multiple of its group width (capped at the width).
    """
    w0, wa, wm, depth = arch["w0"], arch["wa"], arch["wm"], int(arch["depth"])
    if not (wa >= 0 and w0 > 0 and wm > 1 and w0 % 8 == 0):
        raise ValueError(f"RegNet arch needs wa >= 0, w0 > 0 a multiple of 8, wm > 1: {arch}")
    widths_cont = np.arange(depth) * wa + w0
    ks = np.round(np.log(widths_cont / w0) / np.log(wm))
    widths = (np.round(w0 * np.power(wm, ks) / 8) * 8).astype(int).tolist()
    changes = [w != prev for w, prev in zip(widths + [0], [0] + widths)]
    stage_widths = [w for w, changed in zip(widths, changes[:-1]) if changed]
    stage_blocks = np.diff([i for i, changed in enumerate(changes) if changed]).tolist()
    ratio = arch["bot_mul"]
    bottleneck = [int(w * ratio) for w in stage_widths]
    groups = [min(int(arch["group_w"]), b) for b in bottleneck]
    bottleneck = [int(round(b / g) * g) for b, g in zip(bottleneck, groups)]
    stage_widths = [int(b / ratio) for b in bottleneck]
    return stage_widths, stage_blocks, groups


@MODELS.register_module()
class RegNet(ResNet):
    """RegNetX backbone.

    Args:
        arch: a name of ``arch_settings`` (``'regnetx_400mf'`` ... ``'regnetx_12gf'``) or a
            dict with ``w0``, ``wa``, ``wm``, ``group_w``, ``depth``, ``bot_mul``.
        stem_channels: width of the stem conv (32).
        base_channels: unused (kept for mmdet's signature).
        strides: per stage (default all 2: the stem has no max-pool).
        Other arguments: as :class:`~detkit.models.backbones.resnet.ResNet`.

    Input ``[B, 3, H, W]``; stage ``i`` output ``[B, stage_widths[i], H / 2**(i+2), ...]``
    (``regnetx_3.2gf``: 96, 192, 432, 1008 channels).
    """

    arch_settings_regnet: dict[str, dict[str, float]] = {
        "regnetx_400mf": dict(w0=24, wa=24.48, wm=2.54, group_w=16, depth=22, bot_mul=1.0),
        "regnetx_800mf": dict(w0=56, wa=35.73, wm=2.28, group_w=16, depth=16, bot_mul=1.0),
        "regnetx_1.6gf": dict(w0=80, wa=34.01, wm=2.25, group_w=24, depth=18, bot_mul=1.0),
        "regnetx_3.2gf": dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0),
        "regnetx_4.0gf": dict(w0=96, wa=38.65, wm=2.43, group_w=40, depth=23, bot_mul=1.0),
        "regnetx_6.4gf": dict(w0=184, wa=60.83, wm=2.07, group_w=56, depth=17, bot_mul=1.0),
        "regnetx_8.0gf": dict(w0=80, wa=49.56, wm=2.88, group_w=120, depth=23, bot_mul=1.0),
        "regnetx_12gf": dict(w0=168, wa=73.36, wm=2.37, group_w=112, depth=19, bot_mul=1.0),
    }

    def __init__(
        self,
        arch: str | Mapping[str, float],
        stem_channels: int = 32,
        base_channels: int = 32,
        strides: Sequence[int] = (2, 2, 2, 2),
        **kwargs: Any,
    ) -> None:
        if isinstance(arch, str):
            if arch not in self.arch_settings_regnet:
                raise KeyError(
                    f"RegNet arch {arch!r} is unknown; expected one of "
                    f"{sorted(self.arch_settings_regnet)} or a dict with keys {_ARCH_KEYS}"
                )
            arch = self.arch_settings_regnet[arch]
        elif not isinstance(arch, Mapping) or set(_ARCH_KEYS) - set(arch):
            raise ValueError(
                f"RegNet arch must be a name or a dict with keys {_ARCH_KEYS}, got {arch!r}"
            )
        self.stage_widths, blocks, self.group_widths = regnet_stages(arch)
        self.arch_settings = {0: (_RegNetBottleneck, tuple(blocks))}
        super().__init__(
            depth=0,
            num_stages=len(blocks),
            stem_channels=stem_channels,
            base_channels=base_channels,
            strides=strides,
            **kwargs,
        )
        self.depth = sum(blocks)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 3, stride=2, padding=1, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def stage_planes(self, i: int) -> int:
        return self.stage_widths[i]

    def make_res_layer(self, **kwargs: Any) -> nn.Module:
        i = len(self.res_layers)
        width = self.stage_widths[i]
        return ResLayer(
            groups=width // self.group_widths[i],
            base_width=self.group_widths[i],
            base_channels=width,
            **kwargs,
        )

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.norm1(self.conv1(x)))
        return out
