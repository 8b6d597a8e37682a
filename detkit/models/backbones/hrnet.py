"""HRNet backbone (MMDetection v2 ``HRNet``, Sun et al., 2019): parallel branches at
strides 4, 8, 16, 32 exchanging information after every module.

Keys: ``conv1``, ``bn1``, ``conv2``, ``bn2`` (two stride-2 3×3 convs), ``layer1.{b}.*``,
``transition{1,2,3}.{i}.*``, ``stage{2,3,4}.{m}.branches.{b}.{k}.*`` and
``stage{2,3,4}.{m}.fuse_layers.{i}.{j}.*``, as mmdet's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.backbones.resnet import BasicBlock, Bottleneck, is_pretrained, resolve_init_cfg
from detkit.models.backbones.resnet_blocks import _BlockType
from detkit.models.layers import (
    apply_init_cfg,
    batch_norm_eval,
    build_conv_layer,
    build_norm_layer,
)
from detkit.registry import MODELS

__all__ = ["HRModule", "HRNet"]

_DEFAULT_NORM: Mapping[str, Any] = {"type": "BN"}
_BLOCKS: dict[str, _BlockType] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}
_STAGE_KEYS = ("num_modules", "num_branches", "block", "num_blocks", "num_channels")


def _conv_norm(
    conv_cfg: Mapping[str, Any] | None,
    norm_cfg: Mapping[str, Any],
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int = 1,
    relu: bool = False,
    inplace_relu: bool = True,
) -> nn.Sequential:
    layers = [
        build_conv_layer(
            conv_cfg, c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False
        ),
        build_norm_layer(norm_cfg, c_out)[1],
    ]
    if relu:
        layers.append(nn.ReLU(inplace=inplace_relu))
    return nn.Sequential(*layers)


def _blocks(
    block: _BlockType,
    inplanes: int,
    planes: int,
    num_blocks: int,
    conv_cfg: Mapping[str, Any] | None,
    norm_cfg: Mapping[str, Any],
    with_cp: bool,
) -> nn.Sequential:
    """``num_blocks`` residual blocks; the first gets a 1×1 downsample branch where the
    width changes."""
    expansion: int = block.expansion
    downsample = None
    if inplanes != planes * expansion:
        downsample = _conv_norm(conv_cfg, norm_cfg, inplanes, planes * expansion, 1)
    common = {"with_cp": with_cp, "norm_cfg": norm_cfg, "conv_cfg": conv_cfg}
    layers = [block(inplanes, planes, 1, downsample=downsample, **common)]
    layers += [block(planes * expansion, planes, **common) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """``num_branches`` parallel block sequences, then every output branch ``i`` sums all
    branches brought to its resolution (1×1 conv + norm + nearest upsampling from coarser
    ones, stride-2 3×3 convs from finer ones) and applies ReLU.

    Input/output: a list of maps ``[B, C_i, H / 2**i, W / 2**i]`` (one output when
    ``multiscale_output`` is False).
    """

    def __init__(
        self,
        num_branches: int,
        block: _BlockType,
        num_blocks: Sequence[int],
        in_channels: list[int],
        num_channels: Sequence[int],
        multiscale_output: bool = True,
        with_cp: bool = False,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
    ) -> None:
        super().__init__()
        for key, value in (("num_blocks", num_blocks), ("num_channels", num_channels)):
            if len(value) != num_branches:
                raise ValueError(f"HRModule {key} {tuple(value)} needs {num_branches} entries")
        if len(in_channels) != num_branches:
            raise ValueError(f"HRModule in_channels {in_channels} needs {num_branches} entries")
        self.num_branches = num_branches
        self.multiscale_output = multiscale_output
        expansion: int = block.expansion
        self.branches = nn.ModuleList(
            _blocks(
                block, in_channels[i], num_channels[i], num_blocks[i], conv_cfg, norm_cfg, with_cp
            )
            for i in range(num_branches)
        )
        self.in_channels = [c * expansion for c in num_channels]
        self.fuse_layers = self._make_fuse_layers(conv_cfg, norm_cfg) if num_branches > 1 else None
        self.relu = nn.ReLU(inplace=False)

    def _make_fuse_layers(
        self, conv_cfg: Mapping[str, Any] | None, norm_cfg: Mapping[str, Any]
    ) -> nn.ModuleList:
        channels = self.in_channels
        fuse_layers = nn.ModuleList()
        for i in range(self.num_branches if self.multiscale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    up = _conv_norm(conv_cfg, norm_cfg, channels[j], channels[i], 1)
                    up.append(nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"))
                    row.append(up)
                elif j == i:
                    row.append(None)
                else:
                    steps = [
                        _conv_norm(
                            conv_cfg,
                            norm_cfg,
                            channels[j],
                            channels[j],
                            3,
                            2,
                            relu=True,
                            inplace_relu=False,
                        )
                        for _ in range(i - j - 1)
                    ]
                    steps.append(_conv_norm(conv_cfg, norm_cfg, channels[j], channels[i], 3, 2))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))  # type: ignore[arg-type]  # None: itself
        return fuse_layers

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(x_i) for branch, x_i in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        fused = []
        for i, row in enumerate(self.fuse_layers):
            assert isinstance(row, nn.ModuleList)
            terms = [x[j] if j == i else row[j](x[j]) for j in range(len(row))]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            fused.append(self.relu(total))
        return fused


@MODELS.register_module()
class HRNet(nn.Module):
    """HRNet backbone (HRNetV2p when followed by ``HRFPN``).

    Args:
        extra: ``stage1`` .. ``stage4`` dicts with ``num_modules``, ``num_branches``,
            ``block`` (``'BASIC'`` or ``'BOTTLENECK'``), ``num_blocks`` and ``num_channels``
            (one entry per branch). HRNetV2p-W32: stage4 ``num_channels=(32, 64, 128, 256)``.
        in_channels: image channels.
        conv_cfg, norm_cfg: every conv and norm.
        norm_eval: keep BatchNorm in eval mode while training.
        with_cp: activation checkpointing in the blocks.
        zero_init_residual: accepted; mmdet v2.28 never applies it to HRNet (its check reads
            an ``init_cfg`` attribute that always exists), and neither does detkit.
        multiscale_output: all four outputs, else only the stride-4 one.
        pretrained, init_cfg: as ResNet's.

    Input ``[B, 3, H, W]``; output a list of maps ``[B, C_i, H / 2**(i+2), W / 2**(i+2)]``.
    """

    def __init__(
        self,
        extra: Mapping[str, Mapping[str, Any]],
        in_channels: int = 3,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        norm_eval: bool = True,
        with_cp: bool = False,
        zero_init_residual: bool = False,
        multiscale_output: bool = True,
        pretrained: str | None = None,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        self.init_cfg = resolve_init_cfg("HRNet", pretrained, init_cfg)
        _check_extra(extra)
        self.extra = extra
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.zero_init_residual = zero_init_residual
        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, 3, stride=2, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        stage1 = extra["stage1"]
        block = _BLOCKS[stage1["block"]]
        width = stage1["num_channels"][0]
        self.layer1 = _blocks(
            block, 64, width, stage1["num_blocks"][0], conv_cfg, norm_cfg, with_cp
        )
        channels = [width * block.expansion]
        for i in (2, 3, 4):
            cfg = extra[f"stage{i}"]
            expansion: int = _BLOCKS[cfg["block"]].expansion
            wanted = [c * expansion for c in cfg["num_channels"]]
            self.add_module(f"transition{i - 1}", self._make_transition_layer(channels, wanted))
            stage, channels = self._make_stage(cfg, wanted, multiscale_output or i < 4)
            self.add_module(f"stage{i}", stage)
        self.out_channels = channels
        self.init_weights()

    def _make_transition_layer(self, before: list[int], after: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, c_out in enumerate(after):
            if i < len(before):
                layers.append(
                    _conv_norm(self.conv_cfg, self.norm_cfg, before[i], c_out, 3, relu=True)
                    if c_out != before[i]
                    else None
                )
                continue
            steps = []
            for j in range(i + 1 - len(before)):
                last = j == i - len(before)
                steps.append(
                    _conv_norm(
                        self.conv_cfg,
                        self.norm_cfg,
                        before[-1],
                        c_out if last else before[-1],
                        3,
                        2,
                        relu=True,
                    )
                )
            layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)  # type: ignore[arg-type]  # None: no transition

    def _make_stage(
        self, cfg: Mapping[str, Any], in_channels: list[int], multiscale_output: bool
    ) -> tuple[nn.Sequential, list[int]]:
        modules = []
        channels = list(in_channels)
        for i in range(cfg["num_modules"]):
            module = HRModule(
                cfg["num_branches"],
                _BLOCKS[cfg["block"]],
                cfg["num_blocks"],
                channels,
                cfg["num_channels"],
                multiscale_output or i < cfg["num_modules"] - 1,
                with_cp=self.with_cp,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
            )
            channels = module.in_channels
            modules.append(module)
        return nn.Sequential(*modules), channels

    @property
    def norm1(self) -> nn.Module:
        module: nn.Module = getattr(self, self.norm1_name)
        return module

    @property
    def norm2(self) -> nn.Module:
        module: nn.Module = getattr(self, self.norm2_name)
        return module

    def init_weights(self) -> None:
        """mmdet's: Kaiming-normal (fan_out) convs, norms 1 / 0 (``init_cfg=None``); another
        ``init_cfg`` replaces it; ``Pretrained`` is loaded by the detector."""
        if is_pretrained(self.init_cfg):
            return
        default: list[Mapping[str, Any]] = [
            {"type": "Kaiming", "layer": "Conv2d"},
            {"type": "Constant", "val": 1, "layer": ["_BatchNorm", "GroupNorm"]},
        ]
        apply_init_cfg(self, self.init_cfg if self.init_cfg is not None else default)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        branches = [self.layer1(x)]
        for i in (2, 3, 4):
            transition = getattr(self, f"transition{i - 1}")
            # mmdet feeds every transitioned branch from the last output of the stage before
            inputs = [
                branches[j] if layer is None else layer(branches[-1])
                for j, layer in enumerate(transition)
            ]
            branches = getattr(self, f"stage{i}")(inputs)
        return branches

    def train(self, mode: bool = True) -> HRNet:
        super().train(mode)
        if mode and self.norm_eval:
            batch_norm_eval(self)
        return self


def _check_extra(extra: Mapping[str, Mapping[str, Any]]) -> None:
    for i in range(1, 5):
        name = f"stage{i}"
        if name not in extra:
            raise KeyError(f"HRNet extra needs stage1..stage4, {name!r} is missing")
        cfg = extra[name]
        missing = [k for k in _STAGE_KEYS if k not in cfg]
        if missing:
            raise KeyError(f"HRNet extra.{name} misses {missing}")
        if cfg["block"] not in _BLOCKS:
            raise KeyError(
                f"HRNet extra.{name}.block {cfg['block']!r}; expected one of {sorted(_BLOCKS)}"
            )
        for key in ("num_blocks", "num_channels"):
            if len(cfg[key]) != cfg["num_branches"]:
                raise ValueError(
                    f"HRNet extra.{name}.{key} {tuple(cfg[key])} needs num_branches="
                    f"{cfg['num_branches']} entries"
                )
