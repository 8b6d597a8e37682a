"""Soft RoI Selection (AugFPN): pool every RoI from all pyramid levels, fuse by learned attention.

``SoftRoIExtractor`` is a drop-in replacement for ``SingleRoIExtractor`` (same constructor
arguments, call signature and output shape). Instead of picking one level by RoI size it pools
each RoI from every level (``torchvision.ops.roi_align``, ``aligned=True``) and fuses the
per-level features with adaptive spatial fusion: 1×1 conv (``L*C -> C``) → ReLU → 3×3 conv
(one map per level) → sigmoid weights → weighted sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers import xavier_init
from detkit.models.roi_heads.roi_align import roi_align
from detkit.models.roi_heads.roi_extractor import build_roi_layers
from detkit.registry import MODELS

__all__ = ["SoftRoIExtractor", "pool_rois_per_level", "rescale_rois"]


def rescale_rois(rois: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Scale ``[K, 5]`` RoIs ``(batch_idx, x1, y1, x2, y2)`` about their centres."""
    cx = (rois[:, 1] + rois[:, 3]) * 0.5
    cy = (rois[:, 2] + rois[:, 4]) * 0.5
    half_w = (rois[:, 3] - rois[:, 1]) * scale_factor * 0.5
    half_h = (rois[:, 4] - rois[:, 2]) * scale_factor * 0.5
    return torch.stack([rois[:, 0], cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)


def pool_rois_per_level(feats: Sequence[torch.Tensor], rois: torch.Tensor,
                        roi_layers: nn.ModuleList) -> list[torch.Tensor]:
    """Pool every RoI from each of the first ``len(roi_layers)`` maps.

    Args:
        feats: maps ``[B, C, H_l, W_l]``, finest first.
        rois: ``[K, 5]`` float ``(batch_idx, x1, y1, x2, y2)`` in input-image pixels.
        roi_layers: one ``torchvision.ops.RoIAlign`` per level (spatial scale 1 / stride),
            as made by ``build_roi_layers``.

    Returns: one ``[K, C, out_h, out_w]`` tensor per level.
    """
    if len(feats) < len(roi_layers):
        raise ValueError(f"got {len(feats)} feature maps for {len(roi_layers)} RoI levels "
                         f"(featmap_strides)")
    return [roi_align(layer, feat, rois) for feat, layer in zip(feats, roi_layers)]


@MODELS.register_module()
class SoftRoIExtractor(nn.Module):
    """RoI features from all levels, fused by learned spatial attention (AugFPN's SRS).

    Args:
        roi_layer: ``dict(type='RoIAlign', output_size=7, sampling_ratio=0)``.
        out_channels: channels of the feature maps (and of the output).
        featmap_strides: strides of the levels used (e.g. ``[4, 8, 16, 32]``).
        finest_scale: accepted for config compatibility with ``SingleRoIExtractor`` (no
            level is selected by size here).
        init_cfg: accepted for config compatibility (the attention convs are Xavier-uniform).

    ``forward(feats, rois, roi_scale_factor=None)``: ``feats`` a sequence of
    ``[B, out_channels, H_l, W_l]`` maps (extra coarser maps are ignored), ``rois``
    ``[K, 5]`` ``(batch_idx, x1, y1, x2, y2)`` in input pixels; returns
    ``[K, out_channels, out_h, out_w]``.
    """

    def __init__(
        self,
        roi_layer: Mapping[str, Any],
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: int = 56,
        init_cfg: Mapping[str, Any] | list | None = None,
    ) -> None:
        super().__init__()
        if not featmap_strides:
            raise ValueError("SoftRoIExtractor featmap_strides must name at least one level")
        self.roi_layers = build_roi_layers(roi_layer, featmap_strides)
        size = self.roi_layers[0].output_size
        self.output_size = (size, size) if isinstance(size, int) else tuple(size)
        self.out_channels = out_channels
        self.featmap_strides = list(featmap_strides)
        self.finest_scale = finest_scale
        num_levels = len(self.featmap_strides)
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(out_channels * num_levels, out_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, num_levels, 3, padding=1),
        )
        self.init_weights()

    @property
    def num_inputs(self) -> int:
        """Number of feature levels pooled."""
        return len(self.featmap_strides)

    def init_weights(self) -> None:
        for m in self.spatial_attention:
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor,
                roi_scale_factor: float | None = None) -> torch.Tensor:
        if roi_scale_factor is not None:
            rois = rescale_rois(rois, roi_scale_factor)
        pooled_per_level = pool_rois_per_level(feats, rois, self.roi_layers)
        weights = torch.sigmoid(self.spatial_attention(torch.cat(pooled_per_level, dim=1)))
        fused = weights[:, 0:1] * pooled_per_level[0]
        for i in range(1, len(pooled_per_level)):
            fused = fused + weights[:, i:i + 1] * pooled_per_level[i]
        return fused
