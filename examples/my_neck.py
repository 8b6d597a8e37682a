"""A user-side neck registered from outside the detkit package.

Use it from a config without touching detkit::

    custom_imports = dict(imports=['examples.my_neck'], allow_failed_imports=False)
    model = dict(neck=dict(type='MyNeck', in_channels=[256, 512], out_channels=64))

(run from the repository root so that ``examples`` is importable, or put the file on your
``PYTHONPATH`` and import it as ``my_neck``).
"""

from __future__ import annotations

import torch
from torch import nn

from detkit.registry import NECKS


@NECKS.register_module()
class MyNeck(nn.Module):
    """One 1x1 convolution per input level, mapping every level to ``out_channels``.

    Args:
        in_channels: channels of each input feature map, finest level first.
        out_channels: channels of every output map.

    Input: a tuple of ``[N, in_channels[i], H_i, W_i]`` tensors; output: a tuple of
    ``[N, out_channels, H_i, W_i]`` tensors (same spatial sizes).
    """

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        if not in_channels or any(c <= 0 for c in in_channels) or out_channels <= 0:
            raise ValueError(
                f"MyNeck needs positive channel counts, got in_channels={in_channels!r}, "
                f"out_channels={out_channels!r}"
            )
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.lateral_convs):
            raise ValueError(
                f"MyNeck expects {len(self.lateral_convs)} feature maps, got {len(inputs)}"
            )
        return tuple(conv(x) for conv, x in zip(self.lateral_convs, inputs, strict=True))
