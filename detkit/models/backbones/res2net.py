"""Res2Net backbone (MMDetection v2 ``Res2Net``, Gao et al., 2019).

Block keys: ``conv1``, ``bn1``, ``convs.{i}``, ``bns.{i}`` (``i < scales - 1``), ``conv3``,
``bn3``, ``downsample.{1,2}`` (``downsample.0`` is the average pool). The stem is always the
deep stem (``stem.*``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.backbones.resnet import ResNet
from detkit.models.backbones.resnet_blocks import _DEFAULT_NORM, _Block, _BlockType, _check_style
from detkit.models.layers import build_conv_layer, build_norm_layer, init_children
from detkit.registry import MODELS

__all__ = ["Bottle2neck", "Res2Layer", "Res2Net"]


class Bottle2neck(_Block):
    """1×1 conv to ``scales`` groups of ``width = floor(planes · base_width / base_channels)``
    channels; group ``i`` (``i < scales - 1``) goes through its own 3×3 conv after adding the
    previous group's output (``'normal'`` blocks; a stage's first block, ``'stage'``,
    convolves each group alone and average-pools the last when strided); concatenated, 1×1
    conv to ``planes · 4``.
    """

    expansion = 4
    last_norm_index = 3

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        dcn: Mapping[str, Any] | None = None,
        plugins: Sequence[Mapping[str, Any]] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
        scales: int = 4,
        base_width: int = 26,
        base_channels: int = 64,
        stage_type: str = "normal",
    ) -> None:
        super().__init__(init_cfg)
        _check_style(style)
        if scales <= 1:
            raise ValueError(f"Res2Net scales must be > 1 (1 is ResNet), got {scales}")
        if plugins:
            raise ValueError("Res2Net takes no plugins (MMDetection's Bottle2neck cannot run them)")
        self.with_cp, self.downsample = with_cp, downsample
        self.stage_type, self.scales = stage_type, scales
        self.conv2_stride = stride if style == "pytorch" else 1
        conv1_stride = 1 if style == "pytorch" else stride
        self.width = width = int(math.floor(planes * base_width / base_channels))
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes, width * scales, 1, stride=conv1_stride, bias=False
        )
        self._add_norm(1, norm_cfg, width * scales)
        self.conv3 = build_conv_layer(
            conv_cfg, width * scales, planes * self.expansion, 1, bias=False
        )
        self._add_norm(3, norm_cfg, planes * self.expansion)
        self.pool = (
            nn.AvgPool2d(3, stride=self.conv2_stride, padding=1)
            if stage_type == "stage" and self.conv2_stride != 1
            else None
        )
        dcn_cfg = dict(dcn) if dcn is not None else None
        fallback = bool(dcn_cfg.pop("fallback_on_stride", False)) if dcn_cfg is not None else False
        if dcn_cfg is not None and not fallback and conv_cfg is not None:
            raise ValueError("Res2Net: conv_cfg must be None when dcn is set (as MMDetection)")
        conv2_cfg = conv_cfg if dcn_cfg is None or fallback else dcn_cfg
        self.convs = nn.ModuleList(
            build_conv_layer(
                conv2_cfg,
                width,
                width,
                3,
                stride=self.conv2_stride,
                padding=dilation,
                dilation=dilation,
                bias=False,
            )
            for _ in range(scales - 1)
        )
        self.bns = nn.ModuleList(
            build_norm_layer(norm_cfg, width, postfix=i + 1)[1] for i in range(scales - 1)
        )

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.norm(1)(self.conv1(x)))
        groups = torch.split(out, self.width, dim=1)
        parts = []
        sp = groups[0]
        for i in range(self.scales - 1):
            if i > 0:
                sp = groups[i] if self.stage_type == "stage" else sp + groups[i]
            sp = self.relu(self.bns[i](self.convs[i](sp.contiguous())))
            parts.append(sp)
        last = groups[self.scales - 1]
        parts.append(self.pool(last) if self.pool is not None else last)
        out = self.norm(3)(self.conv3(torch.cat(parts, dim=1)))
        out += x if self.downsample is None else self.downsample(x)
        return out


class Res2Layer(nn.Sequential):
    """A Res2Net stage: the first block is a ``'stage'`` block with an average-pool
    downsample branch (always pooled, as mmdet)."""

    def __init__(
        self,
        block: _BlockType,
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int = 1,
        avg_down: bool = True,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        **block_kwargs: Any,
    ) -> None:
        expansion: int = block.expansion
        downsample = None
        if stride != 1 or inplanes != planes * expansion:
            downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                build_conv_layer(conv_cfg, inplanes, planes * expansion, 1, bias=False),
                build_norm_layer(norm_cfg, planes * expansion)[1],
            )
        common = {"conv_cfg": conv_cfg, "norm_cfg": norm_cfg, **block_kwargs}
        layers = [
            block(
                inplanes, planes, stride=stride, downsample=downsample, stage_type="stage", **common
            )
        ]
        layers += [
            block(planes * expansion, planes, stride=1, **common) for _ in range(1, num_blocks)
        ]
        super().__init__(*layers)

    def init_weights(self) -> None:
        init_children(self)


@MODELS.register_module()
class Res2Net(ResNet):
    """Res2Net-50/101/152: ResNet with Bottle2neck blocks; ``deep_stem``, ``avg_down`` and
    ``style='pytorch'`` always (the values passed are ignored, as in mmdet).

    Args:
        scales: groups per block (4).
        base_width: channels per group at the first stage (26).
        **kwargs: the other :class:`~detkit.models.backbones.resnet.ResNet` options.

    Outputs as ResNet-50: ``[B, 256 · 2**i, H / 2**(i+2), W / 2**(i+2)]``.
    """

    zero_init_blocks = False  # as mmdet (see ResNet.zero_init_blocks)
    arch_settings: dict[int, tuple[_BlockType, tuple[int, ...]]] = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        scales: int = 4,
        base_width: int = 26,
        style: str = "pytorch",
        deep_stem: bool = True,
        avg_down: bool = True,
        **kwargs: Any,
    ) -> None:
        self.scales = scales
        self.base_width = base_width
        super().__init__(style="pytorch", deep_stem=True, avg_down=True, **kwargs)

    def make_res_layer(self, **kwargs: Any) -> nn.Module:
        return Res2Layer(
            scales=self.scales,
            base_width=self.base_width,
            base_channels=self.base_channels,
            **kwargs,
        )
