"""FPN with a choice of top-down upsampler (MMDetection v2 ``FPN_CARAFE``, Wang et al.,
2019): keys ``lateral_convs.N.conv.*``, ``fpn_convs.N.conv.*`` and ``upsample_modules.N.*``
(CARAFE: ``channel_compressor``, ``content_encoder``; pixel shuffle: ``upsample_conv``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers import CARAFEPack, ConvModule, build_upsample_layer, xavier_init
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["FPN_CARAFE"]

_UPSAMPLES = ("nearest", "bilinear", "deconv", "pixel_shuffle", "carafe", None)
_ORDERS = (("conv", "norm", "act"), ("act", "conv", "norm"))
_DEFAULT_UPSAMPLE: Mapping[str, Any] = {
    "type": "carafe",
    "up_kernel": 5,
    "up_group": 1,
    "encoder_kernel": 3,
    "encoder_dilation": 1,
}


@MODELS.register_module()
class FPN_CARAFE(nn.Module):  # noqa: N801 - mmdet's registered name
    """Top-down pyramid whose 2× upsampling is ``upsample_cfg`` (CARAFE by default). Extra
    levels (``num_outs`` beyond the inputs) are stride-2 3×3 lateral convs that take part
    in the top-down path too, as mmdet's.

    Args:
        in_channels, out_channels, num_outs, start_level, end_level: as :class:`FPN`
            (``end_level`` here is exclusive, as mmdet's ``FPN_CARAFE``).
        norm_cfg, act_cfg: of every ``ConvModule`` (bias only without a norm).
        order: ``('conv', 'norm', 'act')`` or ``('act', 'conv', 'norm')``.
        upsample_cfg: ``type`` in ``nearest``, ``bilinear``, ``deconv``, ``pixel_shuffle``
            (these two need ``upsample_kernel``), ``carafe``, or None (no upsampling: sizes
            must already match) plus the upsampler's arguments.
        init_cfg: accepted for config compatibility (Xavier-uniform convs, then CARAFE's own).

    Input: tuple of ``[B, C_i, H_i, W_i]``; output: ``num_outs`` maps, finest first.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        norm_cfg: Mapping[str, Any] | None = None,
        act_cfg: Mapping[str, Any] | None = None,
        order: tuple[str, str, str] = ("conv", "norm", "act"),
        upsample_cfg: Mapping[str, Any] = _DEFAULT_UPSAMPLE,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f"FPN_CARAFE in_channels must be a list of ints, got {in_channels!r}")
        if tuple(order) not in _ORDERS:
            raise ValueError(f"FPN_CARAFE order={order!r}; expected one of {_ORDERS}")
        cfg = dict(upsample_cfg)
        self.upsample = cfg.get("type")
        if self.upsample not in _UPSAMPLES:
            raise ValueError(
                f"FPN_CARAFE upsample_cfg type={self.upsample!r}; expected one of {_UPSAMPLES}"
            )
        kernel = 0
        if self.upsample in ("deconv", "pixel_shuffle"):
            kernel = int(cfg.pop("upsample_kernel", 0))
            if kernel <= 0:
                raise ValueError(
                    f"FPN_CARAFE upsample_cfg type={self.upsample!r} needs upsample_kernel > 0"
                )
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        if end_level == -1:
            self.backbone_end_level = len(in_channels)
            if num_outs < len(in_channels) - start_level:
                raise ValueError(
                    f"FPN_CARAFE num_outs={num_outs} < used inputs {len(in_channels) - start_level}"
                )
        else:
            self.backbone_end_level = end_level
            if end_level > len(in_channels) or num_outs != end_level - start_level:
                raise ValueError(
                    f"FPN_CARAFE end_level={end_level} needs end_level <= {len(in_channels)} "
                    f"and num_outs == end_level - start_level, got {num_outs}"
                )
        self.start_level = start_level
        self.order = tuple(order)
        bias = norm_cfg is None

        def conv(in_ch: int, kernel_size: int, stride: int = 1) -> ConvModule:
            return ConvModule(
                in_ch,
                out_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                norm_cfg=norm_cfg,
                bias=bias,
                act_cfg=act_cfg,
                inplace=False,
                order=self.order,  # type: ignore[arg-type]
            )

        def upsampler() -> nn.Module:
            if self.upsample is None:
                return nn.Identity()
            layer = {k: v for k, v in cfg.items() if k != "type"}
            if self.upsample == "deconv":
                pad = (kernel - 1) // 2
                layer.update(
                    in_channels=out_channels,
                    out_channels=out_channels,
                    kernel_size=kernel,
                    stride=2,
                    padding=pad,
                    output_padding=pad,
                )
            elif self.upsample == "pixel_shuffle":
                layer.update(
                    in_channels=out_channels,
                    out_channels=out_channels,
                    scale_factor=2,
                    upsample_kernel=kernel,
                )
            elif self.upsample == "carafe":
                layer.update(channels=out_channels, scale_factor=2)
            else:
                align = None if self.upsample == "nearest" else False
                layer.update(scale_factor=2, align_corners=align)
            return build_upsample_layer({"type": self.upsample, **layer})

        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        self.upsample_modules = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(conv(self.in_channels[i], 1))
            self.fpn_convs.append(conv(out_channels, 3))
            if i != self.backbone_end_level - 1 and self.upsample is not None:
                self.upsample_modules.append(upsampler())
        for i in range(num_outs - self.backbone_end_level + start_level):
            source = self.in_channels[self.backbone_end_level - 1] if i == 0 else out_channels
            if self.upsample is not None:
                self.upsample_modules.append(upsampler())
            self.fpn_convs.append(conv(out_channels, 3))
            self.lateral_convs.append(conv(source, 3, stride=2))
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's: Xavier-uniform on every (transposed) conv, then CARAFE's own init."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                xavier_init(m, distribution="uniform")
        for m in self.modules():
            if isinstance(m, CARAFEPack):
                m.init_weights()

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f"FPN_CARAFE expects {len(self.in_channels)} inputs, got {len(inputs)}"
            )
        used = self.backbone_end_level - self.start_level
        laterals: list[torch.Tensor] = []
        for i, lateral_conv in enumerate(self.lateral_convs):
            if i <= used:
                source = inputs[min(i + self.start_level, len(inputs) - 1)]
            else:
                source = laterals[-1]
            laterals.append(lateral_conv(source))
        for i in range(len(laterals) - 1, 0, -1):
            up = laterals[i] if self.upsample is None else self.upsample_modules[i - 1](laterals[i])
            finer = laterals[i - 1]
            # an odd finer size: crop the upsampled map (mmdet's slice_as)
            laterals[i - 1] = finer + up[:, :, : finer.shape[2], : finer.shape[3]]
        return FeaturePyramid(tuple(conv(x) for conv, x in zip(self.fpn_convs, laterals)))
