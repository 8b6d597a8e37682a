"""The ``--cfg-options key=value ...`` value grammar (mmcv ``DictAction``).

``parse_option_value`` turns one command-line value into a Python value:

======================  ==========================
text                    value
======================  ==========================
``8`` / ``0.5``         ``8`` / ``0.5`` (int, then float)
``true`` / ``False``    ``True`` / ``False`` (any case)
``None``                ``None`` (exact spelling)
``'abc'`` / ``"abc"``   ``'abc'`` (outer quotes stripped)
``a,b,c``               ``['a', 'b', 'c']``
``[1, 2]`` / ``(1,2)``  ``[1, 2]`` / ``(1, 2)`` (all spaces removed first)
``[(1,2),(3,4)]``       ``[(1, 2), (3, 4)]`` (commas inside brackets respected)
======================  ==========================
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["DictAction", "parse_option_value", "parse_options"]


def _parse_scalar(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def _top_level_comma(text: str) -> int:
    """Index of the first comma outside brackets in ``text`` (``len(text)`` if none)."""
    for index, char in enumerate(text):
        before = text[:index]
        if (
            char == ","
            and before.count("(") == before.count(")")
            and before.count("[") == before.count("]")
        ):
            return index
    return len(text)


def parse_option_value(value: str) -> Any:
    """Parse one ``--cfg-options`` value (see the module table).

    Raises:
        ValueError: brackets are unbalanced (the message shows the value).
    """
    text = value.strip("'\"").replace(" ", "")
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        raise ValueError(f"unbalanced brackets in config option value {value!r}")
    is_tuple = False
    if text.startswith("(") and text.endswith(")"):
        is_tuple = True
        text = text[1:-1]
    elif text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    elif "," not in text:
        return _parse_scalar(text)
    items: list[Any] = []
    while text:
        comma = _top_level_comma(text)
        if comma == len(text) and "," in text and not items:  # e.g. dict(a=1,b=2)
            raise ValueError(
                f"config option value {value!r} is neither a scalar nor a list/tuple; "
                "set dicts in the config file (or one key at a time: key.sub=value)"
            )
        items.append(parse_option_value(text[:comma]))
        text = text[comma + 1 :]
    return tuple(items) if is_tuple else items


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``['a.b=1', 'c=x,y']`` -> ``{'a.b': 1, 'c': ['x', 'y']}`` (split on the first ``=``).

    Raises:
        ValueError: a pair has no ``=`` or an empty key.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"config option {pair!r} must have the form key=value")
        options[key] = parse_option_value(raw)
    return options


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options k1=v1 k2=v2``: stores a ``{key: value}`` dict.

    Use with ``nargs='+'``; values follow :func:`parse_option_value`. Repeating the flag
    adds to the same dict.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        pairs = [values] if isinstance(values, str) else list(values or [])
        try:
            parsed = parse_options(pairs)
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from exc
        options = dict(getattr(namespace, self.dest, None) or {})
        options.update(parsed)
        setattr(namespace, self.dest, options)
