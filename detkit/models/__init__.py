"""Detection models: backbones, necks, heads, task modules, losses and detectors.

Importing this package registers every component in ``detkit.registry``.
"""

from detkit.models import (  # noqa: F401  (registration)
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

__all__ = ["backbones", "dense_heads", "detectors", "layers", "losses", "necks", "roi_heads",
           "task_modules", "build_detector", "parse_losses"]
