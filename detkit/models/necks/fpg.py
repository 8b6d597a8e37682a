"""Feature Pyramid Grids (MMDetection v2 ``FPG``, Chen et al., 2020): keys
``lateral_convs.N.*`` (plain convs), ``extra_downsamples.N.*``,
``fpn_transitions.<stack>.<level>.<same_up|same_down|across_lateral|across_down|across_up|
across_skip>.*`` and ``output_transition.N.conv_out.*``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import ConvModule, caffe2_xavier_init, constant_init
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["FPG"]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


class UpInterpolationConv(nn.Module):
    """Interpolate ``scale_factor``× then a ``ConvModule`` (key ``conv``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        mode: str = "nearest",
        align_corners: bool | None = None,
        kernel_size: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.scale_factor, self.mode, self.align_corners = scale_factor, mode, align_corners
        self.conv = ConvModule(
            in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, **kwargs
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(
            x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners
        )
        out: torch.Tensor = self.conv(x)
        return out


class LastConv(nn.Module):
    """A ``ConvModule`` (key ``conv_out``) on the last of a level's ``num_inputs`` maps."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_inputs: int,
        kernel_size: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.conv_out = ConvModule(
            in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, **kwargs
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.num_inputs:
            raise ValueError(f"LastConv expects {self.num_inputs} inputs, got {len(inputs)}")
        out: torch.Tensor = self.conv_out(inputs[-1])
        return out


class _Identity(nn.Identity):
    """``type='identity'`` transition (channels unchanged)."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()


_TRANSITIONS: dict[str, type[nn.Module]] = {
    "conv": ConvModule,
    "interpolation_conv": UpInterpolationConv,
    "last_conv": LastConv,
    "identity": _Identity,
}
_KINDS = ("same_up", "same_down", "across_lateral", "across_down", "across_up", "across_skip")


@MODELS.register_module()
class FPG(nn.Module):
    """``stack_times`` pathways over ``num_outs`` levels; each level of a pathway fuses (sums)
    its ``same`` transition from the previous level of the same pathway (``same_up`` going
    bottom-up, ``same_down`` top-down), ``across_lateral`` from the same level of the
    previous pathway, ``across_down``/``across_up`` from its coarser/finer neighbour there and
    ``across_skip`` from the first pathway. A level listed in ``skip_inds[level]`` for a
    pathway passes through. ``output_transition`` maps the last pathway to ``out_channels``.

    Args:
        in_channels, out_channels, num_outs, start_level, end_level: as :class:`FPN`.
        stack_times: number of pathways; ``paths``: ``'bu'``/``'td'`` per pathway.
        inter_channels: channels inside the grid (int or one per level; default
            ``out_channels``).
        same_down_trans, same_up_trans, across_lateral_trans, across_down_trans,
        across_up_trans, across_skip_trans, output_trans: transition dicts with ``type`` in
            ``conv`` / ``interpolation_conv`` / ``last_conv`` / ``identity`` and their
            ``ConvModule`` arguments, or None (no such connection).
        add_extra_convs: stride-2 3×3 convs (not 1×1 max-pools) for the extra levels.
        norm_cfg: accepted as mmdet's (the transitions carry their own).
        skip_inds: per level, the pathways it skips (required).
        init_cfg: accepted for config compatibility (mmdet's: Caffe2Xavier convs, norms 1 / 0).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        stack_times: int,
        paths: Sequence[str],
        inter_channels: int | Sequence[int] | None = None,
        same_down_trans: Mapping[str, Any] | None = None,
        same_up_trans: Mapping[str, Any] | None = {  # noqa: B006 - read only
            "type": "conv",
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
        },
        across_lateral_trans: Mapping[str, Any] | None = {"type": "conv", "kernel_size": 1},  # noqa: B006
        across_down_trans: Mapping[str, Any] | None = {"type": "conv", "kernel_size": 3},  # noqa: B006
        across_up_trans: Mapping[str, Any] | None = None,
        across_skip_trans: Mapping[str, Any] | None = {"type": "identity"},  # noqa: B006
        output_trans: Mapping[str, Any] = {"type": "last_conv", "kernel_size": 3},  # noqa: B006
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool = False,
        norm_cfg: Mapping[str, Any] | None = None,
        skip_inds: Sequence[Sequence[int]] | None = None,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise TypeError(f"FPG in_channels must be a list of ints, got {in_channels!r}")
        if inter_channels is None:
            inter = [out_channels] * num_outs
        elif isinstance(inter_channels, int):
            inter = [inter_channels] * num_outs
        else:
            inter = list(inter_channels)
            if len(inter) != num_outs:
                raise ValueError(f"FPG inter_channels {inter} needs num_outs={num_outs} entries")
        if len(paths) != stack_times or any(p not in ("bu", "td") for p in paths):
            raise ValueError(
                f"FPG paths={list(paths)} must be stack_times={stack_times} of 'bu'/'td'"
            )
        if skip_inds is None or len(skip_inds) < num_outs:
            raise ValueError(
                f"FPG skip_inds must list the skipped pathways of each of {num_outs} levels"
            )
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.inter_channels = inter
        self.stack_times = stack_times
        self.paths = list(paths)
        self.skip_inds = [tuple(s) for s in skip_inds]
        if end_level in (-1, len(in_channels) - 1):
            self.backbone_end_level = len(in_channels)
            if num_outs < len(in_channels) - start_level:
                raise ValueError(f"FPG num_outs={num_outs} < used inputs")
        else:
            self.backbone_end_level = end_level + 1
            if end_level >= len(in_channels) or num_outs != end_level - start_level + 1:
                raise ValueError(
                    f"FPG end_level={end_level} needs num_outs == end_level - start_level + 1"
                )
        self.start_level = start_level
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(self.in_channels[i], inter[i - start_level], 1)
            for i in range(start_level, self.backbone_end_level)
        )
        self.extra_downsamples = nn.ModuleList()
        for i in range(num_outs - self.backbone_end_level + start_level):
            level = self.backbone_end_level - start_level + i
            self.extra_downsamples.append(
                nn.Conv2d(inter[level - 1], inter[level], 3, stride=2, padding=1)
                if add_extra_convs
                else nn.MaxPool2d(1, stride=2)
            )
        # kind: (its cfg, the level it reads from level i, whether level i has none)
        sources: dict[
            str, tuple[Mapping[str, Any] | None, Callable[[int], int], Callable[[int], bool]]
        ] = {
            "same_up": (same_up_trans, lambda i: i - 1, lambda i: i == 0),
            "same_down": (same_down_trans, lambda i: i + 1, lambda i: i == num_outs - 1),
            "across_lateral": (across_lateral_trans, lambda i: i, lambda i: False),
            "across_down": (across_down_trans, lambda i: i + 1, lambda i: i == num_outs - 1),
            "across_up": (across_up_trans, lambda i: i - 1, lambda i: i == 0),
            "across_skip": (across_skip_trans, lambda i: i - 1, lambda i: False),
        }
        self.fpn_transitions = nn.ModuleList()
        for s in range(stack_times):
            stage = nn.ModuleList()
            for i in range(num_outs):
                trans = nn.ModuleDict()
                if s not in self.skip_inds[i]:
                    for kind in _KINDS:
                        cfg, src, absent = sources[kind]
                        built: nn.Module | None = None
                        if cfg is not None and not absent(i):
                            # mmdet sizes across_skip from level i-1 (equal widths in its configs)
                            built = self._build(cfg, inter[src(i)], inter[i])
                        # ModuleDict stores None as add_module does; torch's stub says Module
                        trans[kind] = built  # type: ignore[assignment]
                stage.append(trans)
            self.fpn_transitions.append(stage)
        self.output_transition = nn.ModuleList(
            self._build(output_trans, inter[i], out_channels, num_inputs=stack_times + 1)
            for i in range(num_outs)
        )
        self.init_weights()

    @staticmethod
    def _build(cfg: Mapping[str, Any], cin: int, cout: int, **extra: Any) -> nn.Module:
        args = dict(cfg)
        kind = args.pop("type", None)
        if kind not in _TRANSITIONS:
            raise KeyError(
                f"FPG transition type {kind!r} is unknown; expected one of {sorted(_TRANSITIONS)}"
            )
        return _TRANSITIONS[kind](cin, cout, **args, **extra)

    def init_weights(self) -> None:
        """mmdet's ``init_cfg``: Caffe2-Xavier on every conv, norms weight 1 / bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                caffe2_xavier_init(m)
            elif isinstance(m, (*_NORMS, nn.GroupNorm, nn.LayerNorm)):
                constant_init(m, 1.0)

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"FPG expects {len(self.in_channels)} inputs, got {len(inputs)}")
        feats = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for downsample in self.extra_downsamples:
            feats.append(downsample(feats[-1]))
        outs = [feats]
        for s, direction in enumerate(self.paths):
            current: list[torch.Tensor] = outs[-1]
            new: list[torch.Tensor] = []
            for j in range(self.num_outs):
                if s in self.skip_inds[j]:
                    # mmdet tests and passes on the iteration index j (= the level bottom-up)
                    new.append(current[j])
                    continue
                lvl = self.num_outs - j - 1 if direction == "td" else j
                stage = cast(nn.ModuleList, self.fpn_transitions[s])
                trans = cast(nn.ModuleDict, stage[lvl])
                same = trans["same_down" if direction == "td" else "same_up"]
                parts = []
                if same is not None:
                    parts.append(same(new[-1]))
                if trans["across_lateral"] is not None:
                    parts.append(trans["across_lateral"](current[lvl]))
                if lvl > 0 and trans["across_up"] is not None:
                    parts.append(trans["across_up"](current[lvl - 1]))
                if lvl < self.num_outs - 1 and trans["across_down"] is not None:
                    parts.append(trans["across_down"](current[lvl + 1]))
                if trans["across_skip"] is not None:
                    parts.append(trans["across_skip"](outs[0][lvl]))
                fused = parts[0]
                for part in parts[1:]:
                    fused = fused + part
                new.append(fused)
            outs.append(new[::-1] if direction == "td" else new)
        return FeaturePyramid(
            tuple(
                self.output_transition[i]([stack[i] for stack in outs])
                for i in range(self.num_outs)
            )
        )
