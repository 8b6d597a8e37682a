"""The residual blocks of the ResNet family and ``ResLayer`` (MMDetection v2 names).

Keys per block: ``conv1``, ``<norm>1``, ``conv2``, ``<norm>2`` (+ ``conv3``, ``<norm>3`` for
the bottleneck), ``downsample.{0,1}`` (``downsample.{1,2}`` after ``avg_down``'s pooling),
plugins under their mmcv names (``context_block``, ``gen_attention_block``, ...); ``<norm>``
is ``bn`` / ``gn`` / ... from ``norm_cfg``. A ``dcn`` config makes the 3×3 conv deformable
(``conv2.weight``, ``conv2.conv_offset.*``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.utils.checkpoint as activation_checkpoint

from detkit.models.layers import (
    apply_init_cfg,
    build_conv_layer,
    build_norm_layer,
    build_plugin_layer,
    init_children,
)

__all__ = ["BasicBlock", "Bottleneck", "ResLayer", "PLUGIN_POSITIONS"]

_DEFAULT_NORM: Mapping[str, Any] = {"type": "BN", "requires_grad": True}
PLUGIN_POSITIONS = ("after_conv1", "after_conv2", "after_conv3")
_STYLES = ("pytorch", "caffe")


class _BlockType(Protocol):
    """A residual block class: built with its own arguments, ``expansion`` its output width
    over ``planes``."""

    expansion: int

    def __call__(self, *args: Any, **kwargs: Any) -> nn.Module: ...


def _check_style(style: str) -> None:
    if style not in _STYLES:
        raise ValueError(f"ResNet style must be one of {_STYLES}, got {style!r}")


class _Block(nn.Module):
    """Shared parts: named norms, the residual wrapper with activation checkpointing and the
    block's ``init_cfg`` (mmdet zero-initialises the last norm through it)."""

    expansion = 1
    last_norm_index = 2

    def __init__(self, init_cfg: Mapping[str, Any] | None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        self.norm_names: dict[int, str] = {}
        self.with_cp = False
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None

    def _add_norm(self, index: int, norm_cfg: Mapping[str, Any], channels: int) -> None:
        name, norm = build_norm_layer(norm_cfg, channels, postfix=index)
        self.add_module(name, norm)
        self.norm_names[index] = name

    def add_plugins(
        self, plugins: Sequence[Mapping[str, Any]] | None, width: int, out_channels: int
    ) -> None:
        """Build a bottleneck's ``plugins`` (dicts with ``cfg`` and ``position``
        ``after_conv1|2|3``) under their mmcv names; ``width`` feeds the first two positions,
        ``out_channels`` the last."""
        self.plugin_names: dict[str, list[str]] = {}
        channels = {"after_conv1": width, "after_conv2": width, "after_conv3": out_channels}
        for position in PLUGIN_POSITIONS if plugins else ():
            chosen = [p["cfg"] for p in plugins or () if p["position"] == position]
            self.plugin_names[position] = self._make_plugins(channels[position], chosen)

    def _make_plugins(self, channels: int, cfgs: Sequence[Mapping[str, Any]]) -> list[str]:
        names = []
        for cfg in cfgs:
            cfg = dict(cfg)
            name, layer = build_plugin_layer(
                cfg, postfix=cfg.pop("postfix", ""), in_channels=channels
            )
            if hasattr(self, name):
                raise ValueError(f"duplicate plugin name {name!r}: give each a 'postfix'")
            self.add_module(name, layer)
            names.append(name)
        return names

    def _plugins(self, x: torch.Tensor, position: str) -> torch.Tensor:
        for name in self.plugin_names.get(position, ()):
            x = getattr(self, name)(x)
        return x

    def norm(self, index: int) -> nn.Module:
        """The block's ``index``-th norm (``bn1``, ``gn2``, ...)."""
        module: nn.Module = getattr(self, self.norm_names[index])
        return module

    @property
    def norm1(self) -> nn.Module:
        return self.norm(1)

    @property
    def norm2(self) -> nn.Module:
        return self.norm(2)

    @property
    def last_norm(self) -> nn.Module:
        return self.norm(self.last_norm_index)

    def init_weights(self) -> None:
        """The block's ``init_cfg`` (mmdet's ``zero_init_residual``: the last norm 0), then its
        children's own ``init_weights`` (DCNv2, attention plugins)."""
        apply_init_cfg(self, self.init_cfg)
        init_children(self)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` → ``[B, planes · expansion, H / stride, W / stride]``."""
        if self.with_cp and x.requires_grad:
            out = activation_checkpoint.checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        result: torch.Tensor = self.relu(out)
        return result


class BasicBlock(_Block):
    """Two 3×3 convs with a residual connection (ResNet-18/34); stride on the first conv."""

    expansion = 1
    last_norm_index = 2

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
    ) -> None:
        super().__init__(init_cfg)
        _check_style(style)
        if dcn is not None or plugins:
            raise ValueError(
                "BasicBlock (ResNet-18/34) takes no dcn or plugins (as MMDetection); "
                "use depth >= 50"
            )
        self.conv1 = build_conv_layer(
            conv_cfg,
            inplanes,
            planes,
            3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        )
        self._add_norm(1, norm_cfg, planes)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self._add_norm(2, norm_cfg, planes)
        self.downsample = downsample
        self.with_cp = with_cp
        self.stride = stride
        self.dilation = dilation

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.norm(1)(self.conv1(x)))
        out = self.norm(2)(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return out


class Bottleneck(_Block):
    """1×1 → 3×3 → 1×1 bottleneck (ResNet-50+, ResNeXt with ``groups > 1``).

    ``style='pytorch'`` strides the 3×3 conv, ``'caffe'`` the first 1×1. The 3×3 conv has
    ``width = planes`` channels, or ``floor(planes · base_width / base_channels) · groups``
    for ``groups > 1`` (ResNeXt). ``dcn=dict(type='DCN'|'DCNv2', deform_groups=...,
    fallback_on_stride=False)`` makes it deformable (``fallback_on_stride=True`` keeps the
    plain conv, as mmdet reads the flag per block). ``plugins``: dicts with ``cfg`` and
    ``position`` (``after_conv1|2|3``); several at one position are applied in turn.
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
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
    ) -> None:
        super().__init__(init_cfg)
        _check_style(style)
        if dcn is not None and not isinstance(dcn, Mapping):
            raise TypeError(f"ResNet dcn must be a dict or None, got {dcn!r}")
        self.inplanes, self.planes, self.stride, self.dilation = inplanes, planes, stride, dilation
        self.style, self.with_cp, self.conv_cfg, self.dcn = style, with_cp, conv_cfg, dcn
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * base_width / base_channels) * groups
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes, width, 1, stride=self.conv1_stride, bias=False
        )
        self._add_norm(1, norm_cfg, width)
        self.conv2 = self._make_conv2(width, groups)
        self._add_norm(2, norm_cfg, width)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)
        self._add_norm(3, norm_cfg, planes * self.expansion)
        self.downsample = downsample
        self.add_plugins(plugins, width, planes * self.expansion)

    def _make_conv2(self, width: int, groups: int) -> nn.Module:
        dcn = dict(self.dcn) if self.dcn is not None else None
        fallback = bool(dcn.pop("fallback_on_stride", False)) if dcn is not None else False
        if dcn is not None and not fallback and self.conv_cfg is not None:
            raise ValueError("ResNet: conv_cfg must be None when dcn is set (as MMDetection)")
        return build_conv_layer(
            self.conv_cfg if dcn is None or fallback else dcn,
            width,
            width,
            3,
            stride=self.conv2_stride,
            padding=self.dilation,
            dilation=self.dilation,
            groups=groups,
            bias=False,
        )

    @property
    def norm3(self) -> nn.Module:
        return self.norm(3)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self._plugins(self.relu(self.norm(1)(self.conv1(x))), "after_conv1")
        out = self._plugins(self.relu(self.norm(2)(self.conv2(out))), "after_conv2")
        out = self._plugins(self.norm(3)(self.conv3(out)), "after_conv3")
        out += x if self.downsample is None else self.downsample(x)
        return out


class ResLayer(nn.Sequential):
    """A stage of ``num_blocks`` blocks; the first changes stride/width through a
    ``downsample`` branch (1×1 conv + norm, after a ``stride`` average pool when
    ``avg_down``). ``block_kwargs`` go to every block."""

    def __init__(
        self,
        block: _BlockType,
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int = 1,
        avg_down: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        **block_kwargs: Any,
    ) -> None:
        expansion: int = block.expansion
        downsample = None
        if stride != 1 or inplanes != planes * expansion:
            parts: list[nn.Module] = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                parts.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
            parts.append(
                build_conv_layer(
                    conv_cfg, inplanes, planes * expansion, 1, stride=conv_stride, bias=False
                )
            )
            parts.append(build_norm_layer(norm_cfg, planes * expansion)[1])
            downsample = nn.Sequential(*parts)
        common = {"conv_cfg": conv_cfg, "norm_cfg": norm_cfg, **block_kwargs}
        layers = [block(inplanes, planes, stride=stride, downsample=downsample, **common)]
        layers += [
            block(planes * expansion, planes, stride=1, **common) for _ in range(1, num_blocks)
        ]
        super().__init__(*layers)

    def init_weights(self) -> None:
        init_children(self)
