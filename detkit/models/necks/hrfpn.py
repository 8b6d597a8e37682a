"""HRNet's feature pyramid (MMDetection v2 ``HRFPN``, Sun et al., 2019): keys
``reduction_conv.conv.*`` and ``fpn_convs.N.conv.*``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as activation_checkpoint

from detkit.models.layers import ConvModule, caffe2_xavier_init
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["HRFPN"]

_POOLING: dict[str, Callable[..., torch.Tensor]] = {"AVG": F.avg_pool2d, "MAX": F.max_pool2d}


@MODELS.register_module()
class HRFPN(nn.Module):
    """Upsample every HRNet branch (bilinear) to the finest, concatenate, reduce with a 1×1
    conv, pool to ``num_outs`` levels (kernel and stride ``2**i``) and apply a 3×3 conv each.

    Args:
        in_channels: channels of the HRNet branches, finest first.
        out_channels: channels of every level.
        num_outs: output levels.
        pooling_type: ``'AVG'`` or ``'MAX'``.
        conv_cfg: conv type of every conv.
        norm_cfg: accepted as mmdet's (which passes it to no conv: the convs have no norm).
        with_cp: activation checkpointing of the convs while training.
        stride: stride of the 3×3 convs.
        init_cfg: accepted for config compatibility (the init is mmdet's Caffe2Xavier).

    Input: tuple of ``[B, C_i, H / 2**i, W / 2**i]``; output: ``num_outs`` maps
    ``[B, out_channels, H / 2**l, W / 2**l]`` (with ``stride`` 1).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int = 5,
        pooling_type: str = "AVG",
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        with_cp: bool = False,
        stride: int = 1,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f"HRFPN in_channels must be a list of ints, got {in_channels!r}")
        if pooling_type not in _POOLING:
            raise ValueError(
                f"HRFPN pooling_type={pooling_type!r}; expected one of {sorted(_POOLING)}"
            )
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.pooling = _POOLING[pooling_type]
        self.reduction_conv = ConvModule(
            sum(self.in_channels), out_channels, 1, conv_cfg=conv_cfg, act_cfg=None
        )
        self.fpn_convs = nn.ModuleList(
            ConvModule(
                out_channels,
                out_channels,
                3,
                stride=stride,
                padding=1,
                conv_cfg=conv_cfg,
                act_cfg=None,
            )
            for _ in range(num_outs)
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Caffe2-Xavier (Kaiming-uniform, ``a=1``) on every conv, bias 0 (mmdet's)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                caffe2_xavier_init(m)

    def _run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out: torch.Tensor = activation_checkpoint.checkpoint(module, x, use_reentrant=False)
            return out
        result: torch.Tensor = module(x)
        return result

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != self.num_ins:
            raise ValueError(f"HRFPN expects {self.num_ins} inputs, got {len(inputs)}")
        size = inputs[0].shape[2:]
        maps = [inputs[0]] + [
            F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in inputs[1:]
        ]
        out = self._run(self.reduction_conv, torch.cat(maps, dim=1))
        pooled = [out] + [
            self.pooling(out, kernel_size=2**i, stride=2**i) for i in range(1, self.num_outs)
        ]
        return FeaturePyramid(tuple(self._run(conv, x) for conv, x in zip(self.fpn_convs, pooled)))
