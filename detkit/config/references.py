"""``${a.b}`` references inside config values (MMDetection v2.28 ``replace_cfg_vals``).

A string that is exactly ``${a.b}`` becomes the value at ``a.b`` (any type); a string that
embeds references gets each one replaced by the text of its (scalar) value. References are
read from the original config, so they do not chain. A digit part indexes a list
(``${data.train.pipeline.0.type}``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from detkit.config.config import Config

__all__ = ["replace_cfg_vals"]

_REFERENCE = re.compile(r"\$\{[a-zA-Z\d_.]*\}")


def _value_at(root: Any, dotted: str, where: str) -> Any:
    node = root
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(f"`{where}` refers to ${{{dotted}}}, but the config has no `{dotted}`")
    return node


def _replace(value: Any, root: dict[str, Any], path: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, root, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_replace(v, root, f"{path}.{i}") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if not isinstance(value, str):
        return value
    references = _REFERENCE.findall(value)
    if len(references) == 1 and references[0] == value:
        return copy.deepcopy(_value_at(root, value[2:-1], path))
    for reference in references:
        found = _value_at(root, reference[2:-1], path)
        if isinstance(found, (dict, list, tuple)):
            raise TypeError(
                f"`{path}` embeds {reference} in the string {value!r}, but it is a "
                f"{type(found).__name__}; only a whole-string reference may be a container"
            )
        value = value.replace(reference, str(found))
    return value


def replace_cfg_vals(cfg: Config) -> Config:
    """New ``Config`` (same filename and text) with every ``${a.b}`` reference resolved.

    As in MMDetection, a ``model_wrapper`` key, if present, replaces ``model``.

    Raises:
        KeyError: a reference names a missing key (the message gives the referring key).
        TypeError: a dict/list/tuple is referenced inside a longer string.
    """
    root = cfg.to_dict()
    resolved = _replace(root, root, "")
    if resolved.get("model_wrapper") is not None:
        resolved["model"] = resolved.pop("model_wrapper")
    return Config(resolved, filename=cfg.filename, text=cfg.text)
