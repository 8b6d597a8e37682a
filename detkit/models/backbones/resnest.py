"""ResNeSt backbone (MMDetection v2 ``ResNeSt``, Zhang et al., 2020): ResNet-D with
split-attention 3×3 convs.

Block keys: ``conv1``, ``bn1``, ``conv2.conv``, ``conv2.bn0``, ``conv2.fc1``, ``conv2.bn1``,
``conv2.fc2``, ``conv3``, ``bn3``, ``downsample.{1,2}``; deep stem ``stem.*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.backbones.resnet import ResLayer, ResNetV1d
from detkit.models.backbones.resnet_blocks import _DEFAULT_NORM, _Block, _BlockType, _check_style
from detkit.models.layers import build_conv_layer, build_norm_layer
from detkit.registry import MODELS

__all__ = ["ResNeSt", "SplitAttentionConv2d"]


class SplitAttentionConv2d(nn.Module):
    """A grouped conv to ``radix`` splits of ``channels``, fused by attention weights computed
    from their global average (softmax over the splits, or a sigmoid for ``radix=1``).

    ``[B, in_channels, H, W]`` → ``[B, channels, H', W']``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduction_factor: int = 4,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        dcn: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix, self.groups, self.channels = radix, groups, channels
        if dcn is not None:
            dcn = dict(dcn)
            if not dcn.pop("fallback_on_stride", False):
                if conv_cfg is not None:
                    raise ValueError("ResNeSt: conv_cfg must be None when dcn is set")
                conv_cfg = dcn
        self.conv = build_conv_layer(
            conv_cfg,
            in_channels,
            channels * radix,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups * radix,
            bias=False,
        )
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = build_conv_layer(None, channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = build_conv_layer(None, inter_channels, channels * radix, 1, groups=groups)

    def _attention(self, logits: torch.Tensor) -> torch.Tensor:
        """``[B, radix · channels, 1, 1]`` logits (group-major) → weights ``[B, radix, C, 1, 1]``
        in the splits' order (softmax over the radix)."""
        batch = logits.size(0)
        if self.radix == 1:
            return torch.sigmoid(logits).view(batch, 1, -1, 1, 1)
        weights = logits.view(batch, self.groups, self.radix, -1).transpose(1, 2)
        return F.softmax(weights, dim=1).reshape(batch, self.radix, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(getattr(self, self.norm0_name)(self.conv(x)))
        batch = x.size(0)
        splits = x.view(batch, self.radix, -1, *x.shape[2:])
        gap = F.adaptive_avg_pool2d(splits.sum(dim=1), 1)
        gap = self.relu(getattr(self, self.norm1_name)(self.fc1(gap)))
        weights = self._attention(self.fc2(gap))
        return (weights * splits).sum(dim=1).contiguous()


class _ResNeStBottleneck(_Block):
    """ResNet bottleneck whose 3×3 conv is a :class:`SplitAttentionConv2d`; with
    ``avg_down_stride`` a strided block pools (3×3 average, the stride) after it instead of
    striding it (``avd_layer``)."""

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
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
    ) -> None:
        super().__init__(init_cfg)
        _check_style(style)
        self.with_cp, self.downsample = with_cp, downsample
        conv1_stride, conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * base_width / base_channels) * groups
        self.avg_down_stride = avg_down_stride and conv2_stride > 1
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, stride=conv1_stride, bias=False)
        self._add_norm(1, norm_cfg, width)
        self.conv2 = SplitAttentionConv2d(
            width,
            width,
            3,
            stride=1 if self.avg_down_stride else conv2_stride,
            padding=dilation,
            dilation=dilation,
            groups=groups,
            radix=radix,
            reduction_factor=reduction_factor,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            dcn=dcn,
        )
        self.avd_layer = nn.AvgPool2d(3, conv2_stride, padding=1) if self.avg_down_stride else None
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)
        self._add_norm(3, norm_cfg, planes * self.expansion)
        self.add_plugins(plugins, width, planes * self.expansion)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self._plugins(self.relu(self.norm(1)(self.conv1(x))), "after_conv1")
        out = self.conv2(out)
        if self.avd_layer is not None:
            out = self.avd_layer(out)
        out = self._plugins(out, "after_conv2")
        out = self._plugins(self.norm(3)(self.conv3(out)), "after_conv3")
        out += x if self.downsample is None else self.downsample(x)
        return out


@MODELS.register_module()
class ResNeSt(ResNetV1d):
    """ResNeSt-50/101/152/200 (deep stem and ``avg_down`` always, as ResNet-D).

    Args:
        groups, base_width: cardinality and group width of the 3×3 convs (ResNeXt's).
        radix: splits fused by attention (2).
        reduction_factor: the attention's bottleneck is ``max(width · radix / factor, 32)``.
        avg_down_stride: stride by average-pooling after the split-attention conv.
        **kwargs: the other :class:`~detkit.models.backbones.resnet.ResNet` options.

    Outputs as ResNet-50: ``[B, 256 · 2**i, H / 2**(i+2), W / 2**(i+2)]``.
    """

    zero_init_blocks = False  # as mmdet (see ResNet.zero_init_blocks)
    arch_settings: dict[int, tuple[_BlockType, tuple[int, ...]]] = {
        50: (_ResNeStBottleneck, (3, 4, 6, 3)),
        101: (_ResNeStBottleneck, (3, 4, 23, 3)),
        152: (_ResNeStBottleneck, (3, 8, 36, 3)),
        200: (_ResNeStBottleneck, (3, 24, 36, 3)),
    }

    def __init__(
        self,
        groups: int = 1,
        base_width: int = 4,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs: Any,
    ) -> None:
        self.groups, self.base_width = groups, base_width
        self.radix, self.reduction_factor = radix, reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs: Any) -> nn.Module:
        return ResLayer(
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
            radix=self.radix,
            reduction_factor=self.reduction_factor,
            avg_down_stride=self.avg_down_stride,
            **kwargs,
        )
