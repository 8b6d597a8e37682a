"""ResNeXt backbone (MMDetection v2 ``ResNeXt``): ResNet with grouped 3×3 convs.

Same keys as ResNet; the bottleneck's inner width is
``floor(planes · base_width / base_channels) · groups`` (``32x4d``: 128 at the first stage).
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from detkit.models.backbones.resnet import Bottleneck, ResLayer, ResNet
from detkit.models.backbones.resnet_blocks import _BlockType
from detkit.registry import MODELS

__all__ = ["ResNeXt"]


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt-50/101/152 (Xie et al., 2017).

    Args:
        groups: cardinality of the 3×3 convs (e.g. 32 or 64).
        base_width: channels per group at the first stage (e.g. 4).
        **kwargs: every :class:`~detkit.models.backbones.resnet.ResNet` option (``depth``,
            ``style``, ``dcn``, ``plugins``, ...).

    Input ``[B, 3, H, W]``; outputs ``[B, 256 · 2**i, H / 2**(i+2), W / 2**(i+2)]``.
    """

    zero_init_blocks = False  # as mmdet (see ResNet.zero_init_blocks)
    arch_settings: dict[int, tuple[_BlockType, tuple[int, ...]]] = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs: Any) -> None:
        self.groups = groups
        self.base_width = base_width
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs: Any) -> nn.Module:
        return ResLayer(
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
            **kwargs,
        )
