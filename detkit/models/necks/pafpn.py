"""Path Aggregation FPN (MMDetection v2 ``PAFPN``, Liu et al., 2018): FPN's keys plus
``downsample_convs.N.conv.*`` and ``pafpn_convs.N.conv.*`` for the bottom-up path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers import ConvModule
from detkit.models.necks.fpn import FPN
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["PAFPN"]


@MODELS.register_module()
class PAFPN(FPN):
    """FPN followed by a bottom-up path: each level's FPN output gets the stride-2 3×3 conv
    of the finer (aggregated) level added, then a 3×3 conv (``pafpn_convs``) for all but
    the finest level.

    Arguments as :class:`FPN`. Input: tuple of ``[B, C_i, H_i, W_i]``; output: ``num_outs``
    maps ``[B, out_channels, H_l, W_l]``, finest first. Init: Xavier-uniform convs (mmdet).
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
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            start_level,
            end_level,
            add_extra_convs,
            relu_before_extra_convs,
            no_norm_on_lateral,
            conv_cfg,
            norm_cfg,
            act_cfg,
            init_cfg=init_cfg,
        )

        def conv(stride: int) -> ConvModule:
            return ConvModule(
                out_channels,
                out_channels,
                3,
                stride=stride,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                inplace=False,
            )

        used = self.backbone_end_level - self.start_level
        self.downsample_convs = nn.ModuleList(conv(2) for _ in range(used - 1))
        self.pafpn_convs = nn.ModuleList(conv(1) for _ in range(used - 1))
        self.init_weights()

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"PAFPN expects {len(self.in_channels)} inputs, got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        laterals = self.top_down(laterals)
        inter = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals))]
        for i in range(len(inter) - 1):
            inter[i + 1] = inter[i + 1] + self.downsample_convs[i](inter[i])
        outs = [inter[0]] + [self.pafpn_convs[i - 1](inter[i]) for i in range(1, len(inter))]
        return FeaturePyramid(tuple(self.extra_levels(inputs, laterals, outs)))
