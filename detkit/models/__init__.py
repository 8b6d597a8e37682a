"""Detection models: backbones, necks, heads, task modules, losses and detectors.

Importing this package registers every component in ``detkit.registry``.
"""

from detkit.models import backbones, layers, necks  # noqa: F401  (registration)

__all__ = ["backbones", "layers", "necks"]
