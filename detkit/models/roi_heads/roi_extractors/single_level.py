"""``SingleRoIExtractor``: pool each RoI from the one FPN level that suits its scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn as nn

from detkit.models.roi_heads.roi_extractors.roi_layers import build_roi_layers
from detkit.ops import scatter_rows
from detkit.registry import MODELS

__all__ = ["SingleRoIExtractor"]


@MODELS.register_module()
class SingleRoIExtractor(nn.Module):
    """Extract RoI features from the level that suits each RoI's scale.

    Args:
        roi_layer: RoIAlign config.
        out_channels: feature channels.
        featmap_strides: strides of the levels used (``num_inputs`` = their count).
        finest_scale: RoIs with ``sqrt(area) < 2 * finest_scale`` go to the finest level.
        init_cfg: accepted for config compatibility (no parameters).

    ``forward(feats, rois)``: ``rois`` ``[K, 5]`` ``[batch_idx, x1, y1, x2, y2]`` in input
    pixels → ``[K, out_channels, out_h, out_w]``. Tensor-only (``exportable``).
    """

    exportable: ClassVar[bool] = True

    def __init__(
        self,
        roi_layer: Mapping[str, Any],
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: int = 56,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.roi_layers = build_roi_layers(roi_layer, featmap_strides)
        self.out_channels = out_channels
        self.featmap_strides = list(featmap_strides)
        self.finest_scale = finest_scale
        size: Any = self.roi_layers[0].output_size  # int or (h, w)
        self.output_size = (size, size) if isinstance(size, int) else tuple(size)

    @property
    def num_inputs(self) -> int:
        return len(self.featmap_strides)

    def map_roi_levels(self, rois: torch.Tensor, num_levels: int) -> torch.Tensor:
        """Level ``floor(log2(sqrt(w*h) / finest_scale + 1e-6))`` clamped to
        ``[0, num_levels - 1]``, int64 ``[K]``."""
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return levels.clamp(min=0, max=num_levels - 1).long()

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        feats = feats[: self.num_inputs]
        if len(feats) == 1:
            single: torch.Tensor = self.roi_layers[0](feats[0], rois).contiguous()
            return single
        # every RoI is mapped to one level, so every row is written by one level's pooling;
        # every level pools (maybe no RoI): no branch on a count, and every level stays in
        # the autograd graph (as DistributedDataParallel needs)
        levels = self.map_roi_levels(rois, len(feats))
        rows = [torch.nonzero(levels == i, as_tuple=False).squeeze(1) for i in range(len(feats))]
        pooled = [
            layer(feat, rois[inds]) for feat, layer, inds in zip(feats, self.roi_layers, rows)
        ]
        return scatter_rows(rois.size(0), feats[0].dtype, rows, pooled)
