"""GCNet's global context block (mmcv ``ContextBlock``), a backbone plugin.

Keys: ``conv_mask`` (attention pooling), ``channel_add_conv.{0,1,3}`` and/or
``channel_mul_conv.{0,1,3}`` (1×1 conv → LayerNorm → ReLU → 1×1 conv), as mmcv's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from detkit.models.layers.weight_init import constant_init, kaiming_init

__all__ = ["ContextBlock"]

_POOLING = ("att", "avg")
_FUSIONS = ("channel_add", "channel_mul")


def _transform(channels: int, planes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, planes, kernel_size=1),
        nn.LayerNorm([planes, 1, 1]),
        nn.ReLU(inplace=True),
        nn.Conv2d(planes, channels, kernel_size=1),
    )


class ContextBlock(nn.Module):
    """Global context block (Cao et al., 2019): one context vector per image, pooled with a
    softmax attention map (``'att'``) or averaged (``'avg'``), transformed through a
    ``int(in_channels * ratio)``-channel bottleneck and added to (``channel_add``) and/or
    multiplied into (``channel_mul``, after a sigmoid) every position.

    Args:
        in_channels: ``C`` of the ``[B, C, H, W]`` input (and output).
        ratio: bottleneck width over ``in_channels`` (mmdet's GCNet configs: 1/4 or 1/16).
        pooling_type: ``'att'`` or ``'avg'``.
        fusion_types: non-empty subset of ``('channel_add', 'channel_mul')``.
    """

    _abbr_ = "context_block"

    def __init__(
        self,
        in_channels: int,
        ratio: float,
        pooling_type: str = "att",
        fusion_types: Sequence[str] = ("channel_add",),
    ) -> None:
        super().__init__()
        if pooling_type not in _POOLING:
            raise ValueError(
                f"ContextBlock pooling_type must be one of {_POOLING}, got {pooling_type!r}"
            )
        if not isinstance(fusion_types, (list, tuple)) or not fusion_types:
            raise ValueError(
                f"ContextBlock fusion_types must be a non-empty list, got {fusion_types!r}"
            )
        bad = [f for f in fusion_types if f not in _FUSIONS]
        if bad:
            raise ValueError(f"ContextBlock fusion_types {bad} unknown; expected from {_FUSIONS}")
        self.in_channels = in_channels
        self.ratio = ratio
        self.planes = int(in_channels * ratio)
        self.pooling_type = pooling_type
        self.fusion_types = tuple(fusion_types)
        if pooling_type == "att":
            self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
        else:
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.channel_add_conv = (
            _transform(in_channels, self.planes) if "channel_add" in fusion_types else None
        )
        self.channel_mul_conv = (
            _transform(in_channels, self.planes) if "channel_mul" in fusion_types else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mmcv's: ``conv_mask`` Kaiming (fan_in), the last conv of each transform zero (the
        block starts as the identity)."""
        if self.pooling_type == "att":
            kaiming_init(self.conv_mask, mode="fan_in")
        for transform in (self.channel_add_conv, self.channel_mul_conv):
            if transform is not None:
                constant_init(transform[-1], 0)

    def spatial_pool(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` → context ``[B, C, 1, 1]``."""
        batch, channels = x.shape[:2]
        if self.pooling_type == "avg":
            pooled: torch.Tensor = self.avg_pool(x)
            return pooled
        weights = self.conv_mask(x).view(batch, 1, -1).softmax(dim=2)  # [B, 1, HW]
        context = torch.bmm(x.reshape(batch, channels, -1), weights.transpose(1, 2))
        return context.view(batch, channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.spatial_pool(x)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out
