"""Norm layers from mmcv ``norm_cfg`` dicts: ``build_norm_layer`` and the synchronised
BatchNorm behind ``SyncBN`` / ``MMSyncBN``.

Names follow mmcv's ``infer_abbr`` (``bn``, ``gn``, ``ln``, ``in`` plus a postfix), so the
state-dict keys of every module built with them equal MMDetection's (``bn1``, ``gn``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.nn.functional import all_reduce

__all__ = ["NORM_TYPES", "SyncBatchNorm", "batch_norm_eval", "build_norm_layer", "norm_abbr"]

_STATS_MODES = ("default", "N")


class SyncBatchNorm(nn.SyncBatchNorm):
    """BatchNorm whose training statistics are taken over every process of the group.

    mmcv's ``SyncBN`` (torch's ``SyncBatchNorm``) and ``MMSyncBN`` in one class, with their
    parameters and buffers (``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked``). On one process (no initialised process group, or a group of
    one) it is plain BatchNorm, as in mmcv. Under DDP the per-process sums travel through one
    differentiable ``all_reduce`` (gloo on CPU, nccl on GPU; torch's own kernel accepts GPU
    inputs only).

    Args:
        num_features: channels ``C`` of the ``[B, C, ...]`` input.
        eps, momentum, affine, track_running_stats: as ``nn.BatchNorm2d``.
        group: the process group (``None``: the world), mmcv's ``group`` argument.
        stats_mode: ``'default'``: every process's mean and variance weigh the same
            (mmcv ``MMSyncBN``); ``'N'``: weighted by each process's batch size (torch's
            ``SyncBatchNorm``, the ``SyncBN`` default).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        group: Any = None,
        stats_mode: str = "N",
    ) -> None:
        if stats_mode not in _STATS_MODES:
            raise ValueError(f"SyncBN stats_mode must be one of {_STATS_MODES}, got {stats_mode!r}")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, group)
        self.stats_mode = stats_mode

    def _group_size(self) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return int(dist.get_world_size(self.process_group))

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch's name
        """``[B, C, ...]`` → normalised ``[B, C, ...]``."""
        if not self.training or self._group_size() == 1:
            out: torch.Tensor = nn.modules.batchnorm._BatchNorm.forward(self, input)
            return out
        dims = [0, *range(2, input.dim())]
        count = input.numel() // input.size(1)
        stats = torch.cat(
            [
                input.sum(dims),
                (input * input).sum(dims),
                input.new_tensor([count, 1.0 if count else 0.0]),
            ]
        )
        if self.stats_mode == "default" and count:
            stats = torch.cat([stats[:-2] / count, stats[-2:]])
        stats = all_reduce(stats, group=self.process_group or dist.group.WORLD)  # type: ignore[no-untyped-call]
        channels = input.size(1)
        total, processes = stats[-2].detach(), stats[-1].detach().clamp(min=1)
        denominator = total.clamp(min=1) if self.stats_mode == "N" else processes
        mean = stats[:channels] / denominator
        var = (stats[channels : 2 * channels] / denominator - mean * mean).clamp(min=0)
        if self.track_running_stats and total > 0:
            assert self.running_mean is not None and self.running_var is not None
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            tracked = float(self.num_batches_tracked.item())
            momentum = self.momentum if self.momentum is not None else 1.0 / tracked
            unbiased = var.detach() * total / (total - 1).clamp(min=1)
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def _sync_bn(num_features: int, **kwargs: Any) -> SyncBatchNorm:
    return SyncBatchNorm(num_features, stats_mode=kwargs.pop("stats_mode", "N"), **kwargs)


def _mm_sync_bn(num_features: int, **kwargs: Any) -> SyncBatchNorm:
    return SyncBatchNorm(num_features, stats_mode=kwargs.pop("stats_mode", "default"), **kwargs)


def _group_norm(num_features: int, **kwargs: Any) -> nn.GroupNorm:
    if "num_groups" not in kwargs:
        raise KeyError("norm_cfg of type GN needs 'num_groups'")
    return nn.GroupNorm(num_channels=num_features, **kwargs)


# type -> (factory(num_features, **kwargs), mmcv abbreviation)
NORM_TYPES: dict[str, tuple[Any, str]] = {
    "BN": (nn.BatchNorm2d, "bn"),
    "BN1d": (nn.BatchNorm1d, "bn"),
    "BN2d": (nn.BatchNorm2d, "bn"),
    "BN3d": (nn.BatchNorm3d, "bn"),
    "SyncBN": (_sync_bn, "bn"),
    "MMSyncBN": (_mm_sync_bn, "bn"),
    "GN": (_group_norm, "gn"),
    "LN": (nn.LayerNorm, "ln"),
    "IN": (nn.InstanceNorm2d, "in"),
    "IN1d": (nn.InstanceNorm1d, "in"),
    "IN2d": (nn.InstanceNorm2d, "in"),
    "IN3d": (nn.InstanceNorm3d, "in"),
}


def norm_abbr(norm_cfg: Mapping[str, Any]) -> str:
    """mmcv's name stem for the norm of ``norm_cfg``: ``'bn'``, ``'gn'``, ``'ln'`` or ``'in'``."""
    return NORM_TYPES[_norm_type(norm_cfg)][1]


def _norm_type(norm_cfg: Mapping[str, Any]) -> str:
    if not isinstance(norm_cfg, Mapping) or "type" not in norm_cfg:
        raise TypeError(f"norm_cfg must be a dict with a 'type' key, got {norm_cfg!r}")
    kind = norm_cfg["type"]
    if kind not in NORM_TYPES:
        raise KeyError(f"norm_cfg type {kind!r} is unknown; expected one of {sorted(NORM_TYPES)}")
    return str(kind)


def build_norm_layer(
    norm_cfg: Mapping[str, Any], num_features: int, postfix: int | str = ""
) -> tuple[str, nn.Module]:
    """Build a norm layer from ``dict(type=..., requires_grad=True, **layer_args)``.

    Types: ``BN`` (``BN1d``/``BN2d``/``BN3d``), ``SyncBN``, ``MMSyncBN``, ``GN`` (needs
    ``num_groups``), ``LN``, ``IN`` (``IN1d``/``IN2d``/``IN3d``); ``eps`` defaults to 1e-5.

    Returns ``(name, layer)`` with mmcv's name (``'bn1'``, ``'gn'``, ...); ``requires_grad``
    sets the flag of the layer's parameters.
    """
    kind = _norm_type(norm_cfg)
    factory, abbr = NORM_TYPES[kind]
    cfg = {k: v for k, v in norm_cfg.items() if k not in ("type", "requires_grad")}
    cfg.setdefault("eps", 1e-5)
    layer = factory(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = bool(norm_cfg.get("requires_grad", True))
    return f"{abbr}{postfix}", layer


def batch_norm_eval(module: nn.Module) -> None:
    """Put every BatchNorm (SyncBN included) below ``module`` in eval mode (``norm_eval``)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
