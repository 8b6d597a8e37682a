"""Hook priorities, as mmcv: a smaller number runs earlier."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Priority", "get_priority"]


class Priority(IntEnum):
    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(priority: int | str | Priority) -> int:
    """An int in [0, 100] from an int, a ``Priority`` or its name (``'LOW'``, case-insensitive)."""
    if isinstance(priority, bool):
        raise TypeError(f"priority must be an int, a Priority or a name, got {priority!r}")
    if isinstance(priority, int):
        if not 0 <= priority <= 100:
            raise ValueError(f"priority must be between 0 and 100, got {priority}")
        return int(priority)
    if isinstance(priority, str):
        try:
            return Priority[priority.upper()].value
        except KeyError:
            raise ValueError(
                f"unknown priority {priority!r}; choose from {[p.name for p in Priority]}"
            ) from None
    raise TypeError(f"priority must be an int, a Priority or a name, got {type(priority).__name__}")
