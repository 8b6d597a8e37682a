"""Merge a child config into its base with MMDetection v2 (mmcv ``Config``) rules.

For every key of the child:

1. a dict value merges recursively into a dict base value, unless it carries
   ``_delete_=True`` (then it replaces the base value; ``_delete_`` is dropped) or the key is
   absent from the base (then it is stored as is, ``_delete_`` included, as mmcv does);
   a dict over a non-dict base value is a TypeError naming the key path;
2. any other value (lists and tuples too) replaces the base value;
3. with ``allow_list_keys=True`` (used by ``--cfg-options``) a digit key addresses an element
   of a base list (``bbox_head.0.num_classes``); out of range is a KeyError.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from detkit.config.config_dict import ConfigDict

__all__ = ["DELETE_KEY", "merge_a_into_b", "nest_dotted_keys"]

DELETE_KEY = "_delete_"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def merge_a_into_b(
    child: Mapping[str, Any],
    base: Mapping[str, Any] | list[Any],
    allow_list_keys: bool = False,
    key_path: str = "",
) -> Any:
    """Return ``base`` (copied) with ``child`` merged into it; neither input is modified.

    Args:
        child: the overriding values.
        base: the values overridden; a list only when ``allow_list_keys`` is True.
        allow_list_keys: let digit keys index into base lists (``--cfg-options`` mode).
        key_path: dotted location of ``base`` in the whole config, for error messages.

    Raises:
        TypeError: the child gives a dict where the base value is not a dict (nor a list in
            ``allow_list_keys`` mode).
        KeyError: a digit key is out of range for the base list.
    """
    merged: Any = list(base) if isinstance(base, list) else ConfigDict(base)
    for key, value in child.items():
        path = _join(key_path, key)
        if allow_list_keys and isinstance(merged, list) and str(key).isdigit():
            index = int(key)
            if index >= len(merged):
                raise KeyError(
                    f"index {index} in `{path}` is out of range: the list at "
                    f"`{key_path}` has {len(merged)} elements"
                )
            if isinstance(value, Mapping) and isinstance(merged[index], (Mapping, list)):
                merged[index] = merge_a_into_b(value, merged[index], allow_list_keys, path)
            else:
                merged[index] = copy.deepcopy(value)
        elif isinstance(merged, list):
            raise KeyError(
                f"`{key_path}` is a list, so `{path}` must use an integer index"
                + ("" if allow_list_keys else " (only allowed for --cfg-options)")
            )
        elif isinstance(value, Mapping):
            value = dict(value)
            if key in merged and not value.pop(DELETE_KEY, False):
                allowed = (Mapping, list) if allow_list_keys else Mapping
                if not isinstance(merged[key], allowed):
                    raise TypeError(
                        f"`{path}` is a dict in the child config but a "
                        f"{type(merged[key]).__name__} in the base config "
                        f"({merged[key]!r}); set `{DELETE_KEY}=True` in the child dict to "
                        "replace the base value instead of merging into it"
                    )
                merged[key] = merge_a_into_b(value, merged[key], allow_list_keys, path)
            else:
                merged[key] = copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def nest_dotted_keys(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{'a.b.c': v}`` -> ``{'a': {'b': {'c': v}}}`` (keys sharing a prefix share a dict)."""
    nested: dict[str, Any] = {}
    for full_key, value in options.items():
        if not isinstance(full_key, str) or not full_key or "" in full_key.split("."):
            raise KeyError(f"invalid config option key {full_key!r}: expected 'a.b.c'")
        node = nested
        *parents, leaf = full_key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise KeyError(
                    f"config option {full_key!r} conflicts with the option that sets "
                    f"{part!r} to {child!r}"
                )
            node = child
        node[leaf] = value
    return nested
