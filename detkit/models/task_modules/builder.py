"""MMDetection v2's task-module builders (``mmdet.core.anchor.builder``,
``mmdet.core.bbox.builder``, ``mmdet.core.bbox.iou_calculators.builder``): each builds a config
dict with its registry through :func:`detkit.registry.build` (built objects pass through)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from detkit.registry import (
    BBOX_ASSIGNERS,
    BBOX_CODERS,
    BBOX_SAMPLERS,
    IOU_CALCULATORS,
    PRIOR_GENERATORS,
    build,
)

__all__ = [
    "build_prior_generator",
    "build_anchor_generator",
    "build_assigner",
    "build_sampler",
    "build_bbox_coder",
    "build_iou_calculator",
]


def build_prior_generator(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """An anchor / point generator (``type='AnchorGenerator'``, ...)."""
    return build(cfg, PRIOR_GENERATORS, default_args)


def build_anchor_generator(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """Deprecated name of :func:`build_prior_generator` (mmdet v2 warns the same way)."""
    warnings.warn(
        "build_anchor_generator is deprecated, use build_prior_generator",
        DeprecationWarning,
        stacklevel=2,
    )
    return build_prior_generator(cfg, default_args)


def build_assigner(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """A box assigner (``type='MaxIoUAssigner'``, ...)."""
    return build(cfg, BBOX_ASSIGNERS, default_args)


def build_sampler(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """A box sampler (``type='RandomSampler'``, ...)."""
    return build(cfg, BBOX_SAMPLERS, default_args)


def build_bbox_coder(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """A box coder (``type='DeltaXYWHBBoxCoder'``, ...)."""
    return build(cfg, BBOX_CODERS, default_args)


def build_iou_calculator(cfg: Any, default_args: Mapping[str, Any] | None = None) -> Any:
    """An overlap calculator (``type='BboxOverlaps2D'``)."""
    return build(cfg, IOU_CALCULATORS, default_args)
