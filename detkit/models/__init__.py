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
from detkit.models.detectors import build_detector, parse_losses

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
    "parse_losses",
]
