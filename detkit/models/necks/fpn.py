"""Feature Pyramid Network (MMDetection v2 ``FPN``), keys ``lateral_convs.N.conv.*`` and
``fpn_convs.N.conv.*``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import ConvModule, xavier_init
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["FPN"]

_EXTRA_CONV_SOURCES = ("on_input", "on_lateral", "on_output")


@MODELS.register_module()
class FPN(nn.Module):
    """Top-down feature pyramid.

    Args:
        in_channels: channels of each backbone output.
        out_channels: channels of every pyramid level.
        num_outs: number of output levels (extra levels come from max-pool or extra convs).
        start_level, end_level: the backbone outputs used (``end_level=-1``: the last).
        add_extra_convs: False (max-pool P6), True (= ``'on_input'``), ``'on_input'``,
            ``'on_lateral'`` or ``'on_output'`` (stride-2 3×3 convs for the extra levels).
        relu_before_extra_convs: ReLU before each extra conv after the first.
        no_norm_on_lateral: lateral convs without norm.
        conv_cfg, norm_cfg, act_cfg: passed to every ``ConvModule`` (default: plain conv).
        upsample_cfg: ``F.interpolate`` arguments for the top-down path; without
            ``scale_factor`` the size of the finer level is used.
        init_cfg: accepted for config compatibility (the init is Xavier-uniform on convs).

    Input: tuple of ``[B, C_i, H_i, W_i]``; output: tuple of ``num_outs`` maps
    ``[B, out_channels, H_l, W_l]``, finest first.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        act_cfg: Mapping[str, Any] | None = None,
        upsample_cfg: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f"FPN in_channels must be a list of ints, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.upsample_cfg = dict(upsample_cfg) if upsample_cfg is not None else {"mode": "nearest"}
        if end_level in (-1, self.num_ins - 1):
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ValueError(
                    f"FPN num_outs={num_outs} < number of used inputs {self.num_ins - start_level}"
                )
        else:
            self.backbone_end_level = end_level + 1
            if end_level >= self.num_ins or num_outs != end_level - start_level + 1:
                raise ValueError(
                    f"FPN end_level={end_level} needs end_level < {self.num_ins} and "
                    f"num_outs == end_level - start_level + 1, got {num_outs}"
                )
        self.start_level = start_level
        self.end_level = end_level
        if isinstance(add_extra_convs, str):
            if add_extra_convs not in _EXTRA_CONV_SOURCES:
                raise ValueError(
                    f"FPN add_extra_convs={add_extra_convs!r}; expected a bool or "
                    f"one of {_EXTRA_CONV_SOURCES}"
                )
        elif not isinstance(add_extra_convs, bool):
            raise TypeError(f"FPN add_extra_convs must be a bool or str, got {add_extra_convs!r}")
        self.add_extra_convs: str | bool = (
            "on_input" if add_extra_convs is True else add_extra_convs
        )

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(self.start_level, self.backbone_end_level):
            self.lateral_convs.append(
                ConvModule(
                    self.in_channels[i],
                    out_channels,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=None if no_norm_on_lateral else norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )
            self.fpn_convs.append(
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )
        extra_levels = num_outs - self.backbone_end_level + self.start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                if i == 0 and self.add_extra_convs == "on_input":
                    extra_in = self.in_channels[self.backbone_end_level - 1]
                else:
                    extra_in = out_channels
                self.fpn_convs.append(
                    ConvModule(
                        extra_in,
                        out_channels,
                        3,
                        stride=2,
                        padding=1,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        inplace=False,
                    )
                )
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-uniform on every conv, bias 0 (mmdet's FPN ``init_cfg``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")

    def top_down(self, laterals: list[torch.Tensor]) -> list[torch.Tensor]:
        """Add each coarser lateral, upsampled, into the next finer one (in place in the list)."""
        for i in range(len(laterals) - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        return laterals

    def extra_levels(
        self, inputs: Sequence[torch.Tensor], laterals: list[torch.Tensor], outs: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Append the levels beyond the backbone's (max-pool or stride-2 convs)."""
        used = len(laterals)
        if self.num_outs <= len(outs):
            return outs
        if not self.add_extra_convs:
            for _ in range(self.num_outs - used):
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            return outs
        if self.add_extra_convs == "on_input":
            source = inputs[self.backbone_end_level - 1]
        elif self.add_extra_convs == "on_lateral":
            source = laterals[-1]
        else:
            source = outs[-1]
        outs.append(self.fpn_convs[used](source))
        for i in range(used + 1, self.num_outs):
            prev = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
            outs.append(self.fpn_convs[i](prev))
        return outs

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        """Backbone maps ``[B, C_i, H_i, W_i]`` → ``num_outs`` levels
        ``[B, out_channels, H_l, W_l]``, finest first."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"FPN expects {len(self.in_channels)} inputs, got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        laterals = self.top_down(laterals)
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals))]
        return FeaturePyramid(tuple(self.extra_levels(inputs, laterals, outs)))
