"""Balanced Feature Pyramid (MMDetection v2 ``BFP``, Libra R-CNN, Pang et al., 2019): key
``refine.*`` (a ``ConvModule`` or mmcv's ``NonLocal2d``). Libra R-CNN stacks it after an
FPN: ``neck=[dict(type='FPN', ...), dict(type='BFP', ...)]`` (keys ``neck.0.*``,
``neck.1.*``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import ConvModule, xavier_init
from detkit.models.layers.non_local import NonLocal2d
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["BFP"]

_REFINE_TYPES = (None, "conv", "non_local")


@MODELS.register_module()
class BFP(nn.Module):
    """Gather every level to the size of ``refine_level`` (adaptive max-pool for finer
    levels, nearest resize for coarser), average, refine, and add the result back to every
    level (nearest resize up, adaptive max-pool down).

    Args:
        in_channels: channels of every level.
        num_levels: number of input levels.
        refine_level: the level whose size the features are balanced at (0-based).
        refine_type: None, ``'conv'`` (3×3 ``ConvModule``) or ``'non_local'``
            (``NonLocal2d`` with ``reduction=1``, ``use_scale=False``).
        conv_cfg, norm_cfg: of the refine block.
        init_cfg: accepted for config compatibility (Xavier-uniform convs; a non-local
            block then re-applies its own init, as under mmcv).

    Input and output: ``num_levels`` maps ``[B, in_channels, H_l, W_l]``.
    """

    def __init__(
        self,
        in_channels: int,
        num_levels: int,
        refine_level: int = 2,
        refine_type: str | None = None,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if refine_type not in _REFINE_TYPES:
            raise ValueError(f"BFP refine_type={refine_type!r}; expected one of {_REFINE_TYPES}")
        if not 0 <= refine_level < num_levels:
            raise ValueError(f"BFP refine_level={refine_level} must be in [0, {num_levels})")
        self.in_channels = in_channels
        self.num_levels = num_levels
        self.refine_level = refine_level
        self.refine_type = refine_type
        if refine_type == "conv":
            self.refine: nn.Module = ConvModule(
                in_channels, in_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg
            )
        elif refine_type == "non_local":
            self.refine = NonLocal2d(
                in_channels, reduction=1, use_scale=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg
            )
        self.init_weights()

    def init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")
        refine = getattr(self, "refine", None)
        if isinstance(refine, NonLocal2d):
            refine.init_weights()

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != self.num_levels:
            raise ValueError(f"BFP expects num_levels={self.num_levels} inputs, got {len(inputs)}")
        size = inputs[self.refine_level].shape[2:]
        gathered = [
            F.adaptive_max_pool2d(x, size) if i < self.refine_level else F.interpolate(x, size)
            for i, x in enumerate(inputs)
        ]
        balanced = torch.stack(gathered).mean(dim=0)
        if self.refine_type is not None:
            balanced = self.refine(balanced)
        outs = []
        for i, x in enumerate(inputs):
            if i < self.refine_level:
                residual = F.interpolate(balanced, size=x.shape[2:], mode="nearest")
            else:
                residual = F.adaptive_max_pool2d(balanced, x.shape[2:])
            outs.append(residual + x)
        return FeaturePyramid(tuple(outs))
