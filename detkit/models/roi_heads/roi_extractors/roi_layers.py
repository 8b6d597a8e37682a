"""What the RoI extractors share: their RoI layers (RoIAlign, deformable RoI pooling) from an
mmcv ``roi_layer`` config,
pooling every RoI from several levels, and scaling RoIs about their centres."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from detkit.models.layers.deform_roi_pool import DeformRoIPoolPack, ModulatedDeformRoIPoolPack
from detkit.ops import RoIAlign

__all__ = ["build_roi_layers", "pool_rois_per_level", "rescale_rois"]


_DEFORM_POOLS: dict[str, type[DeformRoIPoolPack]] = {
    "DeformRoIPoolPack": DeformRoIPoolPack,
    "ModulatedDeformRoIPoolPack": ModulatedDeformRoIPoolPack,
}


def build_roi_layers(roi_layer: Mapping[str, Any], featmap_strides: Sequence[int]) -> nn.ModuleList:
    """One RoI layer per stride (spatial scale 1 / stride) from an mmcv ``roi_layer`` config.

    ``type='RoIAlign'``: ``detkit.ops.RoIAlign`` (``torchvision.ops.RoIAlign`` semantics) with
    ``output_size``, ``sampling_ratio`` (0 = adaptive), ``aligned`` (default True),
    ``pool_mode`` ('avg' only). ``type='DeformRoIPoolPack'`` / ``'ModulatedDeformRoIPoolPack'``
    (MMDetection's ``configs/dcn/*dpool*``): the deformable RoI pooling of
    :mod:`detkit.models.layers.deform_roi_pool` with ``output_size``, ``output_channels``,
    ``deform_fc_channels``, ``sampling_ratio``, ``gamma``; as mmcv, each level has its own
    offset layers (``roi_layers.<level>.offset_fc``). Every layer maps ``[B, C, H, W]`` features
    and ``[K, 5]`` RoIs to ``[K, C, out_h, out_w]``.
    """
    cfg = dict(roi_layer)
    kind = cfg.pop("type", None)
    if kind in _DEFORM_POOLS:
        cfg.pop("spatial_scale", None)  # set per level, as mmcv's extractors do
        try:
            return nn.ModuleList(
                _DEFORM_POOLS[kind](spatial_scale=1.0 / s, **cfg) for s in featmap_strides
            )
        except TypeError as err:
            raise KeyError(f"roi_layer {kind}: {err}") from None
    if kind != "RoIAlign":
        raise KeyError(
            f"roi_layer type {kind!r} is not supported; use 'RoIAlign', "
            + ", ".join(repr(name) for name in _DEFORM_POOLS)
        )
    if cfg.pop("pool_mode", "avg") != "avg":
        raise ValueError("roi_layer pool_mode must be 'avg' (torchvision's RoIAlign averages)")
    cfg.pop("use_torchvision", None)
    output_size = cfg.pop("output_size")
    sampling_ratio = cfg.pop("sampling_ratio", 0)
    aligned = cfg.pop("aligned", True)
    if cfg:
        raise KeyError(f"roi_layer has unknown keys {sorted(cfg)}")
    return nn.ModuleList(
        RoIAlign(output_size, 1.0 / s, sampling_ratio, aligned) for s in featmap_strides
    )


def rescale_rois(rois: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Scale ``[K, 5]`` RoIs ``(batch_idx, x1, y1, x2, y2)`` about their centres."""
    cx = (rois[:, 1] + rois[:, 3]) * 0.5
    cy = (rois[:, 2] + rois[:, 4]) * 0.5
    half_w = (rois[:, 3] - rois[:, 1]) * scale_factor * 0.5
    half_h = (rois[:, 4] - rois[:, 2]) * scale_factor * 0.5
    return torch.stack([rois[:, 0], cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)


def pool_rois_per_level(
    feats: Sequence[torch.Tensor],
    rois: torch.Tensor,
    roi_layers: nn.ModuleList | Sequence[nn.Module],
) -> list[torch.Tensor]:
    """Pool every RoI from each of the first ``len(roi_layers)`` maps.

    Args:
        feats: maps ``[B, C, H_l, W_l]``, finest first.
        rois: ``[K, 5]`` float ``(batch_idx, x1, y1, x2, y2)`` in input-image pixels.
        roi_layers: one ``RoIAlign`` per level (spatial scale 1 / stride),
            as made by ``build_roi_layers``.

    Returns: one ``[K, C, out_h, out_w]`` tensor per level.
    """
    if len(feats) < len(roi_layers):
        raise ValueError(
            f"got {len(feats)} feature maps for {len(roi_layers)} RoI levels (featmap_strides)"
        )
    return [layer(feat, rois) for feat, layer in zip(feats, roi_layers)]
