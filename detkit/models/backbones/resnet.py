"""ResNet backbone with MMDetection v2 semantics and torchvision/mmdet parameter names.

Keys: ``conv1``, ``bn1`` (or ``stem.{0,1,3,4,6,7}`` with ``deep_stem``),
``layer{1..4}.{b}.conv{1,2[,3]}``, ``.bn{1,2[,3]}``, ``.downsample.{0,1}`` (the same as
torchvision's ResNet minus ``fc``; ``gn`` instead of ``bn`` under ``norm_cfg=GN``), so
``torchvision://resnet50`` weights and MMDetection checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.backbones.resnet_blocks import (
    PLUGIN_POSITIONS,
    BasicBlock,
    Bottleneck,
    ResLayer,
    _BlockType,
)
from detkit.models.layers import (
    apply_init_cfg,
    batch_norm_eval,
    build_conv_layer,
    build_norm_layer,
    init_children,
)
from detkit.ops import channels_last_where_faster
from detkit.registry import MODELS

__all__ = ["ResNet", "ResNetV1d", "BasicBlock", "Bottleneck", "ResLayer", "resolve_init_cfg"]

_DEFAULT_NORM: Mapping[str, Any] = {"type": "BN", "requires_grad": True}
# mmdet's default ResNet init: Kaiming convs, norms weight 1 / bias 0
_DEFAULT_INIT: list[dict[str, Any]] = [
    {"type": "Kaiming", "layer": "Conv2d"},
    {"type": "Constant", "val": 1, "layer": ["_BatchNorm", "GroupNorm"]},
]


def resolve_init_cfg(
    name: str, pretrained: str | None, init_cfg: Any
) -> Mapping[str, Any] | list[Any] | None:
    """mmdet's handling of the v2 ``pretrained`` key beside ``init_cfg``: both set is an
    error; ``pretrained`` becomes ``dict(type='Pretrained', checkpoint=pretrained)``."""
    if pretrained is not None and init_cfg is not None:
        raise ValueError(f"{name}: init_cfg and pretrained cannot be set at the same time")
    if pretrained is None:
        return init_cfg  # type: ignore[no-any-return]
    if not isinstance(pretrained, str):
        raise TypeError(f"{name} pretrained must be a str or None, got {pretrained!r}")
    return {"type": "Pretrained", "checkpoint": pretrained}


def is_pretrained(init_cfg: Any) -> bool:
    """``init_cfg`` loads a checkpoint (the detector loads it; no random init is drawn)."""
    return isinstance(init_cfg, Mapping) and init_cfg.get("type") == "Pretrained"


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet backbone (MMDetection v2 ``ResNet``).

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: input image channels.
        stem_channels: stem width (default ``base_channels``).
        base_channels: width of the first stage; stage i has ``base_channels * 2**i`` planes.
        num_stages: 1..4 residual stages used.
        strides, dilations: per stage.
        out_indices: stages whose outputs are returned (0-based).
        style: ``'pytorch'`` (stride on the 3×3 conv) or ``'caffe'``.
        deep_stem: three 3×3 convs (``stem``) instead of the 7×7 ``conv1``.
        avg_down: average-pool before the 1×1 downsample conv (stride 1) instead of striding it.
        frozen_stages: -1 = none; k >= 0 freezes the stem and stages 1..k (eval mode,
            ``requires_grad=False``), re-applied on every ``train()``.
        conv_cfg: convolution type of every conv (e.g. ``dict(type='ConvWS')``).
        norm_cfg: e.g. ``dict(type='BN'|'SyncBN'|'GN', requires_grad=bool)``.
        norm_eval: keep every BatchNorm in eval mode while training.
        dcn: deformable 3×3 convs, ``dict(type='DCN'|'DCNv2', deform_groups=1,
            fallback_on_stride=False)``, in the stages flagged by ``stage_with_dcn``.
        plugins: dicts ``cfg`` (``ContextBlock``/``GeneralizedAttention``), ``position``
            (``after_conv1|2|3``) and optional ``stages`` (one flag per stage).
        with_cp: activation checkpointing in the blocks.
        zero_init_residual: zero the last norm of each block in ``init_weights``.
        pretrained: v2 key, same as ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        init_cfg: ``None`` (Kaiming/constant init), a ``Pretrained`` dict (loaded by the
            detector's ``init_weights``) or other mmcv init dicts.

    Input ``[B, in_channels, H, W]``; output a tuple of feature maps, stage i at stride
    ``4 * 2**i`` for the default strides. Weights are initialised at construction as
    MMDetection's ``init_weights()`` does (same seed, same values).
    """

    # mmdet gives the blocks ``zero_init_residual``'s zero last norm only where the block
    # class is ResNet's own (``block is Bottleneck``) or RegNet's: ResNeXt, Res2Net and
    # ResNeSt blocks keep weight 1 there
    zero_init_blocks = True
    arch_settings: dict[int, tuple[_BlockType, tuple[int, ...]]] = {
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
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] = _DEFAULT_NORM,
        norm_eval: bool = True,
        dcn: Mapping[str, Any] | None = None,
        stage_with_dcn: Sequence[bool] = (False, False, False, False),
        plugins: Sequence[Mapping[str, Any]] | None = None,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if depth not in self.arch_settings:
            raise KeyError(
                f"invalid depth {depth} for {name}; expected one of {sorted(self.arch_settings)}"
            )
        if not 1 <= num_stages <= 4:
            raise ValueError(f"{name} num_stages must be in 1..4, got {num_stages}")
        if len(strides) < num_stages or len(dilations) < num_stages:
            raise ValueError(
                f"strides {tuple(strides)} / dilations {tuple(dilations)} need {num_stages} entries"
            )
        if max(out_indices) >= num_stages:
            raise ValueError(f"out_indices {tuple(out_indices)} exceed num_stages={num_stages}")
        if style not in ("pytorch", "caffe"):
            raise ValueError(f"{name} style must be 'pytorch' or 'caffe', got {style!r}")
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise ValueError(
                f"{name} stage_with_dcn {tuple(stage_with_dcn)} needs {num_stages} flags"
            )
        self.init_cfg = resolve_init_cfg(name, pretrained, init_cfg)
        self.depth = depth
        self.stem_channels = base_channels if stem_channels is None else stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.out_indices = tuple(out_indices)
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.dcn, self.stage_with_dcn = dcn, tuple(stage_with_dcn)
        self.plugins = plugins
        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self._make_stem_layer(in_channels, self.stem_channels)

        self.inplanes = self.stem_channels
        self.res_layers: list[str] = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = self.stage_planes(i)
            layer = self.make_res_layer(
                block=self.block,
                inplanes=self.inplanes,
                planes=planes,
                num_blocks=num_blocks,
                stride=self.strides[i],
                dilation=self.dilations[i],
                style=style,
                avg_down=avg_down,
                with_cp=with_cp,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                dcn=dcn if dcn is not None and self.stage_with_dcn[i] else None,
                plugins=self.make_stage_plugins(plugins, i) if plugins else None,
                init_cfg=self._block_init_cfg(),
            )
            self.inplanes = planes * self.block.expansion
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        expansion: int = self.block.expansion
        self.feat_dim = self.inplanes
        self.out_channels = [self.stage_planes(i) * expansion for i in range(num_stages)]
        self.init_weights()
        self._freeze_stages()

    def stage_planes(self, i: int) -> int:
        """The ``planes`` of stage ``i`` (its blocks output ``planes · expansion``)."""
        planes: int = self.base_channels * 2**i
        return planes

    def make_res_layer(self, **kwargs: Any) -> nn.Module:
        """One stage (a :class:`ResLayer`); subclasses add their block arguments."""
        return ResLayer(**kwargs)

    def make_stage_plugins(
        self, plugins: Sequence[Mapping[str, Any]], stage_idx: int
    ) -> list[dict[str, Any]]:
        """The plugin dicts (``cfg``, ``position``) of stage ``stage_idx``: those without
        ``stages`` or whose ``stages[stage_idx]`` is set."""
        chosen = []
        for plugin in plugins:
            plugin = dict(plugin)
            if plugin.get("position") not in PLUGIN_POSITIONS:
                raise ValueError(
                    f"plugin position {plugin.get('position')!r}; expected one of "
                    f"{PLUGIN_POSITIONS}"
                )
            stages = plugin.pop("stages", None)
            if stages is not None and len(stages) != self.num_stages:
                raise ValueError(
                    f"plugin stages {tuple(stages)} needs one flag per stage ({self.num_stages})"
                )
            if stages is None or stages[stage_idx]:
                chosen.append(plugin)
        return chosen

    def _block_init_cfg(self) -> dict[str, Any] | None:
        if self.init_cfg is not None or not (self.zero_init_residual and self.zero_init_blocks):
            return None
        last = getattr(self.block, "last_norm_index", None)
        if last is None:
            return None
        return {"type": "Constant", "val": 0, "override": {"name": f"norm{last}"}}

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        conv_cfg, norm_cfg = self.conv_cfg, self.norm_cfg
        if self.deep_stem:
            half = stem_channels // 2
            parts: list[nn.Module] = []
            for c_in, c_out, stride in (
                (in_channels, half, 2),
                (half, half, 1),
                (half, stem_channels, 1),
            ):
                parts += [
                    build_conv_layer(
                        conv_cfg, c_in, c_out, 3, stride=stride, padding=1, bias=False
                    ),
                    build_norm_layer(norm_cfg, c_out)[1],
                    nn.ReLU(inplace=True),
                ]
            self.stem = nn.Sequential(*parts)
        else:
            self.conv1 = build_conv_layer(
                conv_cfg, in_channels, stem_channels, 7, stride=2, padding=3, bias=False
            )
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @property
    def norm1(self) -> nn.Module:
        module: nn.Module = getattr(self, self.norm1_name)
        return module

    def init_weights(self) -> None:
        """MMDetection's: with ``init_cfg=None`` Kaiming-normal (fan_out) convs and norms
        weight 1 / bias 0, then each block's own init (the last norm 0 when
        ``zero_init_residual``, DCNv2 and attention plugins); another ``init_cfg`` replaces
        the first part. A ``Pretrained`` ``init_cfg`` draws nothing: the detector's
        ``init_weights`` loads the checkpoint (it needs ``detkit.checkpoint``)."""
        if is_pretrained(self.init_cfg):
            return
        apply_init_cfg(self, self.init_cfg if self.init_cfg is not None else _DEFAULT_INIT)
        init_children(self)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: list[nn.Module] = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        frozen += [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def _stem_layers(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep_stem:
            out: torch.Tensor = self.stem(x)
            return out
        return self.relu(self.norm1(self.conv1(x)))  # type: ignore[no-any-return]

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """stem convs → norm → ReLU → 3×3 max-pool of ``x`` ``[B, C, H, W]`` →
        ``[B, C', H/4, W/4]`` in ``x``'s layout, on the memory layout measured faster on this
        CPU (``detkit.ops.channels_last_where_faster``); same values."""
        norms = self.stem.modules() if self.deep_stem else (self.norm1,)
        in_training = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in norms
        )
        return channels_last_where_faster(
            "resnet_stem",
            lambda t: self.maxpool(self._stem_layers(t)),
            x,
            measurable=not in_training,
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
            batch_norm_eval(self)
        return self


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet-D (Bag of Tricks): ``deep_stem`` and ``avg_down`` always on."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
