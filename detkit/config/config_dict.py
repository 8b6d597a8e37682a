"""``ConfigDict``: a dict whose keys are also attributes (``cfg.model.neck.type``).

Nested dicts, including dicts inside lists and tuples, are converted to ``ConfigDict`` when
stored, so ``cfg.model.roi_head.bbox_head[0].num_classes`` works as in MMDetection v2.
A key that shadows a dict method (``keys``, ``items``, ``get``, ...) must be read with item
access (``pipeline[-1]['keys']``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

__all__ = ["ConfigDict", "to_config_value", "to_plain"]


def to_config_value(value: Any) -> Any:
    """``value`` with every mapping (also inside lists/tuples) turned into a ``ConfigDict``."""
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, Mapping):
        return ConfigDict(value)
    if isinstance(value, list):
        return [to_config_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_config_value(item) for item in value)
    return value


def to_plain(value: Any) -> Any:
    """Deep copy of ``value`` with every ``ConfigDict`` turned into a plain ``dict``."""
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_plain(item) for item in value)
    return value


class ConfigDict(dict[str, Any]):
    """A ``dict`` with attribute access; a missing attribute raises AttributeError naming it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, to_config_value(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            pass
        if name.startswith("__"):
            raise AttributeError(name)
        close = difflib.get_close_matches(name, [str(k) for k in self], n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AttributeError(
            f"config has no key {name!r} (keys here: {', '.join(map(str, self)) or 'none'}){hint}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> ConfigDict:
        return ConfigDict(self)

    def to_dict(self) -> dict[str, Any]:
        """Deep copy as plain ``dict``/``list``/``tuple`` values."""
        plain: dict[str, Any] = to_plain(self)
        return plain
