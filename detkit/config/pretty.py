"""Render a config dict as Python source (``Config.pretty_text``, ``.py`` dumps).

The text is one ``key = value`` assignment per top-level key, in MMDetection style
(``dict(type='FPN', ...)``; ``{...}`` when a key is not an identifier), wrapped at 79
columns. Executing it gives back an equal dict for literal values (dict, list, tuple, str,
int, float, bool, None); see :func:`find_non_literal`.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["format_config", "find_non_literal"]

_LINE_WIDTH = 79
_INDENT = "    "
_LITERAL_LEAVES = (str, int, float, bool, type(None))


def _is_identifier(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _format_scalar(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    return repr(value)


def _items(value: Any) -> tuple[str, str, list[tuple[str, Any]]]:
    """(opening, closing, [(prefix, item)]) for a container value."""
    if isinstance(value, Mapping):
        if all(_is_identifier(k) for k in value):
            return "dict(", ")", [(f"{k}=", v) for k, v in value.items()]
        return "{", "}", [(f"{_format_scalar(k)}: ", v) for k, v in value.items()]
    if isinstance(value, tuple):
        return "(", ")", [("", v) for v in value]
    return "[", "]", [("", v) for v in value]


def _one_line(value: Any) -> str:
    if not isinstance(value, (Mapping, list, tuple)):
        return _format_scalar(value)
    opening, closing, items = _items(value)
    body = ", ".join(prefix + _one_line(item) for prefix, item in items)
    if isinstance(value, tuple) and len(items) == 1:
        body += ","
    return opening + body + closing


def _format(value: Any, column: int, depth: int) -> str:
    """``value`` as source text starting at ``column``, continuation lines at ``depth``."""
    flat = _one_line(value)
    if column + len(flat) <= _LINE_WIDTH or not isinstance(value, (Mapping, list, tuple)):
        return flat
    opening, closing, items = _items(value)
    if not items:
        return flat
    inner = _INDENT * (depth + 1)
    lines = [opening]
    for prefix, item in items:
        text = _format(item, len(inner) + len(prefix), depth + 1)
        lines.append(f"{inner}{prefix}{text},")
    lines.append(_INDENT * depth + closing)
    return "\n".join(lines)


def format_config(cfg: Mapping[str, Any]) -> str:
    """Python source assigning every top-level key of ``cfg``.

    Raises:
        KeyError: a top-level key is not a valid Python identifier.
    """
    blocks = []
    for key, value in cfg.items():
        if not _is_identifier(key):
            raise KeyError(
                f"config key {key!r} is not a Python identifier, so the config cannot be "
                "written as a .py file; dump it as .json or .yaml instead"
            )
        blocks.append(f"{key} = {_format(value, len(key) + 3, 0)}")
    return "\n".join(blocks) + "\n"


def find_non_literal(value: Any, path: str = "") -> str | None:
    """Dotted path of the first value that is not a Python literal, or None if all are."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_non_literal(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find_non_literal(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
        return None
    return None if isinstance(value, _LITERAL_LEAVES) else path or "<root>"
