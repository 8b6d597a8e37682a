"""ResNet backbone with MMDetection v2 semantics and torchvision/mmdet parameter names.

Keys: ``conv1``, ``bn1``, ``layer{1..4}.{b}.conv{1,2[,3]}``, ``.bn{1,2[,3]}``,
``.downsample.{0,1}`` (the same as torchvision's ResNet minus ``fc``), so
``torchvision://resnet50`` weights and MMDetection checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.utils.checkpoint as activation_checkpoint

from detkit.models.layers import build_norm_layer, constant_init, kaiming_init
from detkit.ops import Conv2d, channels_last_where_faster
from detkit.registry import MODELS

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]

_DEFAULT_NORM = {"type": "BN", "requires_grad": True}


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual connection (ResNet-18/34). Stride on the first conv."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
    ) -> None:
        super().__init__()
        self.conv1 = Conv2d(inplanes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp

    @property
    def last_norm(self) -> nn.Module:
        return self.bn2

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = activation_checkpoint.checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 bottleneck (ResNet-50/101). ``style='pytorch'`` strides the 3×3 conv,
    ``'caffe'`` the first 1×1."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
    ) -> None:
        super().__init__()
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        stride_1x1, stride_3x3 = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = Conv2d(inplanes, planes, 1, stride_1x1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = Conv2d(planes, planes, 3, stride_3x3, dilation, dilation, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        self.conv3 = Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, planes * self.expansion)[1]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp

    @property
    def last_norm(self) -> nn.Module:
        return self.bn3

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = activation_checkpoint.checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        return self.relu(out)


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet backbone (MMDetection v2 ``ResNet``).

    Args:
        depth: 18, 34, 50 or 101 (152 too).
        in_channels: input image channels.
        stem_channels: stem width (default ``base_channels``).
        base_channels: width of the first stage; stage i has ``base_channels * 2**i`` planes.
        num_stages: 1..4 residual stages used.
        strides, dilations: per stage.
        out_indices: stages whose outputs are returned (0-based).
        style: ``'pytorch'`` (stride on the 3×3 conv) or ``'caffe'``.
        frozen_stages: -1 = none; k >= 0 freezes the stem and stages 1..k (eval mode,
            ``requires_grad=False``), re-applied on every ``train()``.
        norm_cfg: ``dict(type='BN'|'SyncBN', requires_grad=bool)``.
        norm_eval: keep every BatchNorm in eval mode while training.
        with_cp: activation checkpointing in the blocks.
        zero_init_residual: zero the last norm of each block in ``init_weights``.
        pretrained: v2 key, same as ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        init_cfg: ``None`` (Kaiming/constant init) or a ``Pretrained`` dict.

    Input ``[B, in_channels, H, W]``; output a tuple of feature maps, stage i at stride
    ``4 * 2**i`` for the default strides.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int | None = None,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        style: str = "pytorch",
        frozen_stages: int = -1,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        norm_eval: bool = True,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: Mapping[str, Any] | list | None = None,
    ) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise KeyError(
                f"invalid depth {depth} for ResNet; expected one of {sorted(self.arch_settings)}"
            )
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be in 1..4, got {num_stages}")
        if len(strides) < num_stages or len(dilations) < num_stages:
            raise ValueError(
                f"strides {tuple(strides)} / dilations {tuple(dilations)} need {num_stages} entries"
            )
        if max(out_indices) >= num_stages:
            raise ValueError(f"out_indices {tuple(out_indices)} exceed num_stages={num_stages}")
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        if pretrained is not None and init_cfg is not None:
            raise ValueError("ResNet: init_cfg and pretrained cannot be set at the same time")
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise TypeError(f"ResNet pretrained must be a str or None, got {pretrained!r}")
            init_cfg = {"type": "Pretrained", "checkpoint": pretrained}
        self.init_cfg = init_cfg
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        block, stage_blocks = self.arch_settings[depth]
        stem_channels = base_channels if stem_channels is None else stem_channels

        self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, 2, 3, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        inplanes = stem_channels
        self.res_layers: list[str] = []
        for i in range(num_stages):
            planes = base_channels * 2**i
            layer = self._make_layer(
                block,
                inplanes,
                planes,
                stage_blocks[i],
                strides[i],
                dilations[i],
                style,
                with_cp,
                norm_cfg,
            )
            inplanes = planes * block.expansion
            name = f"layer{i + 1}"
            self.add_module(name, layer)
            self.res_layers.append(name)
        self.feat_dim = inplanes
        self.out_channels = [base_channels * 2**i * block.expansion for i in range(num_stages)]
        self.init_weights()
        self._freeze_stages()

    @staticmethod
    def _make_layer(
        block: type[nn.Module],
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int,
        dilation: int,
        style: str,
        with_cp: bool,
        norm_cfg: Mapping[str, Any],
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                build_norm_layer(norm_cfg, planes * block.expansion)[1],
            )
        layers = [block(inplanes, planes, stride, dilation, downsample, style, with_cp, norm_cfg)]
        for _ in range(1, num_blocks):
            layers.append(
                block(planes * block.expansion, planes, 1, dilation, None, style, with_cp, norm_cfg)
            )
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out) convs, norms weight 1 / bias 0, last norm of each block 0
        when ``zero_init_residual``. A ``Pretrained`` ``init_cfg`` is loaded by the detector's
        ``init_weights`` (it needs ``detkit.checkpoint``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                constant_init(m, 1)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    constant_init(m.last_norm, 0)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1] + [
            getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)
        ]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 → norm → ReLU → 3×3 max-pool of ``x`` ``[B, C, H, W]`` → ``[B, C', H/4, W/4]``
        in ``x``'s layout, on the memory layout measured faster on this CPU
        (``detkit.ops.channels_last_where_faster``); same values."""
        return channels_last_where_faster(
            "resnet_stem",
            lambda t: self.maxpool(self.relu(self.bn1(self.conv1(t)))),
            x,
            measurable=not self.bn1.training,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self._stem(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        """Switch mode, keeping frozen stages (and all BN layers if ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
