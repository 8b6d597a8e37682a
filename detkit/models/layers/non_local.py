"""Non-local block (mmcv's ``NonLocal2d``, Wang et al., 2018): keys ``g.conv``,
``theta.conv``, ``phi.conv`` and ``conv_out.{conv,<norm>}``, as mmcv's ``ConvModule``s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers.conv_module import ConvModule
from detkit.models.layers.weight_init import constant_init, normal_init

__all__ = ["NonLocal2d"]

_MODES = ("embedded_gaussian", "dot_product")


class NonLocal2d(nn.Module):
    """``x + conv_out(softmax_or_mean(θ(x)ᵀ φ(x)) g(x))`` over all positions.

    Args:
        in_channels: ``C`` of the ``[B, C, H, W]`` input (and output).
        reduction: inter channels = ``max(C // reduction, 1)``.
        use_scale: divide the pairwise logits by ``sqrt(inter channels)``.
        conv_cfg, norm_cfg: of the four convs (the norm only on ``conv_out``).
        mode: ``'embedded_gaussian'`` (softmax) or ``'dot_product'`` (mean).

    Init (mmcv): ``g``/``theta``/``phi`` Normal(0, 0.01); ``conv_out`` zero (its norm's
    weight when it has one), so the block starts as the identity.
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 2,
        use_scale: bool = True,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        mode: str = "embedded_gaussian",
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"NonLocal2d mode={mode!r}; expected one of {_MODES}")
        self.in_channels = in_channels
        self.inter_channels = max(in_channels // reduction, 1)
        self.use_scale = use_scale
        self.mode = mode

        def conv(cin: int, cout: int, norm: Mapping[str, Any] | None = None) -> ConvModule:
            return ConvModule(cin, cout, 1, conv_cfg=conv_cfg, norm_cfg=norm, act_cfg=None)

        self.g = conv(in_channels, self.inter_channels)
        self.conv_out = conv(self.inter_channels, in_channels, norm_cfg)
        self.theta = conv(in_channels, self.inter_channels)
        self.phi = conv(in_channels, self.inter_channels)
        self.init_weights()

    def init_weights(self, std: float = 0.01, zeros_init: bool = True) -> None:
        for m in (self.g, self.theta, self.phi):
            normal_init(m.conv, std=std)
        target = self.conv_out.norm if self.conv_out.norm is not None else self.conv_out.conv
        if zeros_init:
            constant_init(target, 0)
        else:
            normal_init(target, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        g_x = self.g(x).view(batch, self.inter_channels, -1).transpose(1, 2)
        theta_x = self.theta(x).view(batch, self.inter_channels, -1).transpose(1, 2)
        phi_x = self.phi(x).view(batch, self.inter_channels, -1)
        weight = theta_x @ phi_x  # [B, HW, HW]
        if self.mode == "embedded_gaussian":
            if self.use_scale:
                weight = weight / theta_x.shape[-1] ** 0.5
            weight = weight.softmax(dim=-1)
        else:
            weight = weight / weight.shape[-1]
        y = (weight @ g_x).transpose(1, 2).reshape(batch, self.inter_channels, *x.shape[2:])
        out: torch.Tensor = x + self.conv_out(y)
        return out
