"""AugFPN neck (Guo et al., CVPR 2020): FPN plus Residual Feature Augmentation.

``AugFPN`` is an ``FPN`` whose top lateral map gets a residual term computed from the top
backbone level (RFA), and which, in training, also returns the lateral maps taken *before*
the top-down fusion (``FeaturePyramid.laterals``, read by Consistent Supervision; see
``detkit.models.roi_heads.consistent_supervision``). Its FPN-shaped parameters keep FPN's key
names (``lateral_convs.N.conv.*``, ``fpn_convs.N.conv.*``), so an FPN checkpoint fills them;
the RFA parameters live under ``rfa.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers import xavier_init
from detkit.models.necks.fpn import FPN
from detkit.registry import MODELS
from detkit.structures.feature_pyramid import FeaturePyramid

__all__ = ["AugFPN", "ResidualFeatureAugmentation"]


def _pool_upsample_matrix(length: Any, bins: Any, like: torch.Tensor) -> torch.Tensor:
    """``[length, length]``: ``adaptive_avg_pool`` of a line to ``bins`` values, then bilinear
    upsampling back (``align_corners=False``), as one matrix. No tensor has ``bins`` in its
    shape, so ``bins`` stays symbolic in an exported graph (1 is no special case)."""
    out = torch.arange(length, device=like.device, dtype=like.dtype)[:, None]
    pos = torch.arange(length, device=like.device)[None, :]
    src = ((out + 0.5) * (bins / length) - 0.5).clamp(min=0)
    low = src.floor()
    frac = src - low
    low = low.long()
    high = torch.where(low < bins - 1, low + 1, low)

    def window(i: torch.Tensor) -> torch.Tensor:  # row i of the pooling matrix
        start = torch.div(i * length, bins, rounding_mode="floor")
        end = torch.div((i + 1) * length + bins - 1, bins, rounding_mode="floor")
        row: torch.Tensor = ((pos >= start) & (pos < end)).to(like.dtype) / (end - start).to(
            like.dtype
        )
        return row

    matrix: torch.Tensor = (1 - frac) * window(low) + frac * window(high)
    return matrix


def _pooled_context(top: torch.Tensor, conv: nn.Conv2d, size: tuple[Any, Any]) -> torch.Tensor:
    """``conv`` (1×1) of ``top`` average-pooled to ``size``, upsampled back to ``top``'s size
    (bilinear). While ``torch.export`` traces, the same map as two matrix products before the
    conv (both steps are linear and the upsampling weights sum to 1), which keep ``size``
    symbolic: the pooling op would fix it to the traced image's size."""
    h, w = top.shape[-2:]
    if not torch.compiler.is_exporting():
        pooled = conv(F.adaptive_avg_pool2d(top, size))
        return F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False)
    maps = top.reshape(-1, h, w)  # [B·C, h, w]; bmm: no broadcasting folds to guard on
    rows = _pool_upsample_matrix(h, size[0], top).expand(maps.size(0), h, h)
    cols = _pool_upsample_matrix(w, size[1], top).t().expand(maps.size(0), w, w)
    context: torch.Tensor = conv(torch.bmm(torch.bmm(rows, maps), cols).reshape(top.shape))
    return context


class ResidualFeatureAugmentation(nn.Module):
    """RFA: ratio-invariant adaptive pooling of the top backbone map, fused spatially.

    For each ratio r: ``adaptive_avg_pool2d`` to ``(max(1, int(r*H)), max(1, int(r*W)))``,
    1×1 conv to ``out_channels``, bilinear upsampling back to ``(H, W)``. Adaptive spatial
    fusion: 1×1 conv (``R*out_channels -> out_channels``) → ReLU → 3×3 conv (one channel per
    ratio) over the concatenated maps, sigmoid, and the weighted sum of the R maps.

    Args:
        in_channels: channels of the top backbone map (C5).
        out_channels: neck width.
        pool_ratios: pooling ratios of C5's size, each in (0, 1].

    Input ``[B, in_channels, H, W]``; output ``[B, out_channels, H, W]``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, pool_ratios: Sequence[float] = (0.1, 0.2, 0.3)
    ) -> None:
        super().__init__()
        ratios = tuple(float(r) for r in pool_ratios)
        if not ratios or any(not 0.0 < r <= 1.0 for r in ratios):
            raise ValueError(
                f"AugFPN pool_ratios must be a non-empty list of numbers in (0, 1], "
                f"got {pool_ratios!r}"
            )
        self.pool_ratios = ratios
        self.pool_convs = nn.ModuleList(nn.Conv2d(in_channels, out_channels, 1) for _ in ratios)
        self.fusion = nn.Sequential(
            nn.Conv2d(out_channels * len(ratios), out_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, len(ratios), 3, padding=1),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")

    def forward(self, top: torch.Tensor) -> torch.Tensor:
        h, w = top.shape[-2:]
        pooled_per_ratio = []
        for ratio, conv in zip(self.pool_ratios, self.pool_convs):
            # sym_int/sym_max: plain ints in eager, symbolic sizes in an exported graph
            size = (
                torch.sym_max(1, torch.sym_int(h * ratio)),
                torch.sym_max(1, torch.sym_int(w * ratio)),
            )
            pooled_per_ratio.append(_pooled_context(top, cast(nn.Conv2d, conv), size))
        weights = torch.sigmoid(self.fusion(torch.cat(pooled_per_ratio, dim=1)))
        fused = weights[:, 0:1] * pooled_per_ratio[0]
        for i in range(1, len(pooled_per_ratio)):
            fused = fused + weights[:, i : i + 1] * pooled_per_ratio[i]
        return fused


@MODELS.register_module()
class AugFPN(FPN):
    """FPN with Residual Feature Augmentation, exposing its laterals for Consistent Supervision.

    Args:
        in_channels, out_channels, num_outs, start_level, end_level, add_extra_convs, and the
            other keyword arguments: as ``FPN`` (the seed tutorial's stub signature is a prefix).
        pool_ratios: RFA pooling ratios of the top backbone map's size (authors' 0.1, 0.2, 0.3).
        use_rfa: False drops RFA (and its ``rfa.*`` parameters): the outputs then equal FPN's.

    Input: tuple of backbone maps ``[B, C_i, H_i, W_i]``. Output: ``num_outs`` maps
    ``[B, out_channels, H_l, W_l]`` (finest first, the same shapes as FPN) as a
    ``FeaturePyramid``; in training mode its ``laterals`` are the lateral maps (RFA already
    added to the top one) before the top-down fusion (None in eval mode, where nothing reads
    them).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        pool_ratios: Sequence[float] = (0.1, 0.2, 0.3),
        use_rfa: bool = True,
        **fpn_kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            start_level=start_level,
            end_level=end_level,
            add_extra_convs=add_extra_convs,
            **fpn_kwargs,
        )
        if not isinstance(use_rfa, bool):
            raise TypeError(f"AugFPN use_rfa must be a bool, got {use_rfa!r}")
        self.use_rfa = use_rfa
        self.rfa = (
            ResidualFeatureAugmentation(
                self.in_channels[self.backbone_end_level - 1], out_channels, pool_ratios
            )
            if use_rfa
            else None
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> FeaturePyramid:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"AugFPN expects {len(self.in_channels)} inputs, got {len(inputs)}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        if self.rfa is not None:
            laterals[-1] = laterals[-1] + self.rfa(inputs[self.backbone_end_level - 1])
        laterals_before_fusion = tuple(laterals)
        fused = self.top_down(list(laterals))
        outs = [self.fpn_convs[i](fused[i]) for i in range(len(fused))]
        outs = self.extra_levels(inputs, fused, outs)
        return FeaturePyramid(tuple(outs), laterals_before_fusion if self.training else None)
