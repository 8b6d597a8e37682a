"""AutoAugment level -> magnitude helpers and argument checks (MMDetection v2 semantics).

``level`` is a number in ``[0, 10]`` (``_MAX_LEVEL``); every policy first draws
``np.random.rand()`` and does nothing when it is greater than ``prob``, then draws its random
sign with :func:`random_negative`. Randomness uses NumPy's global RNG, like mmdet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "MAX_LEVEL",
    "level_to_value",
    "enhance_level_to_value",
    "random_negative",
    "check_level",
    "check_prob",
    "fill_values",
]

MAX_LEVEL = 10


def level_to_value(level: float, max_value: float) -> float:
    """``level / 10 * max_value``."""
    return (level / MAX_LEVEL) * max_value


def enhance_level_to_value(level: float, a: float = 1.8, b: float = 0.1) -> float:
    """Enhancement factor ``level / 10 * a + b`` (1.0 at level 5 with the defaults)."""
    return (level / MAX_LEVEL) * a + b


def random_negative(value: float, random_negative_prob: float) -> float:
    """``-value`` with probability ``random_negative_prob`` (one ``np.random.rand()`` draw)."""
    return -value if np.random.rand() < random_negative_prob else value


def check_level(name: str, level: object) -> float:
    """Return ``level`` if it is a number in [0, 10], else raise naming the transform."""
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        raise TypeError(f"{name}: level must be a number, got {type(level).__name__} {level!r}")
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"{name}: level must be in [0, {MAX_LEVEL}], got {level}")
    return level


def check_prob(name: str, prob: object, key: str = "prob") -> float:
    """Return ``prob`` if it is a number in [0, 1], else raise naming the transform."""
    if isinstance(prob, bool) or not isinstance(prob, (int, float)):
        raise TypeError(f"{name}: {key} must be a number, got {prob!r}")
    if not 0 <= prob <= 1:
        raise ValueError(f"{name}: {key} must be in [0, 1], got {prob}")
    return float(prob)


def fill_values(name: str, fill: float | Sequence[float]) -> tuple[float, float, float]:
    """Per-channel fill (applied to the image's channels in order, i.e. B, G, R for a BGR
    image) from a number or a 3-sequence; each in [0, 255]."""
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        values = (float(fill),) * 3
    elif isinstance(fill, (tuple, list)) and len(fill) == 3:
        values = (float(fill[0]), float(fill[1]), float(fill[2]))
    else:
        raise ValueError(f"{name}: img_fill_val must be a number or a 3-tuple, got {fill!r}")
    if not all(0 <= v <= 255 for v in values):
        raise ValueError(f"{name}: img_fill_val values must be in [0, 255], got {fill!r}")
    return values
