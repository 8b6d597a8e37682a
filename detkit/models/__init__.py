"""Detection models: backbones, necks, heads, task modules, losses and detectors.

``detkit.registry.MODELS`` (and the task-module registries) import this package on their first
lookup, which registers every component.
"""

from detkit.models import (
    backbones,
    dense_heads,
    detectors,
    layers,
    losses,
    necks,
    roi_heads,
    task_modules,
)
from detkit.models.analysis import compare_necks, compare_roi_extractors, format_costs
from detkit.models.detectors import build_detector, parse_losses
from detkit.models.layers import fuse_conv_bn
from detkit.models.summary import format_parameter_table, parameter_table

__all__ = [
    "backbones",
    "dense_heads",
    "detectors",
    "layers",
    "losses",
    "necks",
    "roi_heads",
    "task_modules",
    "build_detector",
    "compare_necks",
    "compare_roi_extractors",
    "format_costs",
    "format_parameter_table",
    "fuse_conv_bn",
    "parameter_table",
    "parse_losses",
]
