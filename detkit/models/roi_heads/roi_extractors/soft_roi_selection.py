"""Soft RoI Selection (AugFPN): pool every RoI from all pyramid levels, fuse by learned attention.

``SoftRoIExtractor`` is a drop-in replacement for ``SingleRoIExtractor`` (same constructor
arguments, call signature and output shape). Instead of picking one level by RoI size it pools
each RoI from every level (RoIAlign, ``aligned=True``) and fuses the
per-level features with adaptive spatial fusion: 1×1 conv (``L*C -> C``) → ReLU → 3×3 conv
(one map per level) → sigmoid weights → weighted sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn as nn

from detkit.models.layers import xavier_init
from detkit.models.roi_heads.roi_extractors.roi_layers import (
    build_roi_layers,
    pool_rois_per_level,
    rescale_rois,
)
from detkit.registry import MODELS

__all__ = ["SoftRoIExtractor"]


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
    ``[K, out_channels, out_h, out_w]``. Tensor-only (``exportable``).
    """

    exportable: ClassVar[bool] = True

    def __init__(
        self,
        roi_layer: Mapping[str, Any],
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: int = 56,
        init_cfg: Mapping[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__()
        if not featmap_strides:
            raise ValueError("SoftRoIExtractor featmap_strides must name at least one level")
        self.roi_layers = build_roi_layers(roi_layer, featmap_strides)
        size: Any = self.roi_layers[0].output_size  # int or (h, w)
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

    def forward(
        self,
        feats: Sequence[torch.Tensor],
        rois: torch.Tensor,
        roi_scale_factor: float | None = None,
    ) -> torch.Tensor:
        if roi_scale_factor is not None:
            rois = rescale_rois(rois, roi_scale_factor)
        pooled_per_level = pool_rois_per_level(feats, rois, self.roi_layers)
        weights = torch.sigmoid(self.spatial_attention(torch.cat(pooled_per_level, dim=1)))
        fused = weights[:, 0:1] * pooled_per_level[0]
        for i in range(1, len(pooled_per_level)):
            fused = fused + weights[:, i : i + 1] * pooled_per_level[i]
        return fused
