"""Which ``--cfg-options`` keys do not exist in a config yet (likely typos such as
``data.sample_per_gpu``), with the closest existing key at the level where the path leaves the
config."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

__all__ = ["new_option_keys", "describe_new_keys"]


def _closest(key: str, node: Any) -> str | None:
    names = [str(k) for k in node] if isinstance(node, Mapping) else []
    found = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return found[0] if found else None


def new_option_keys(
    options: Mapping[str, Any], cfg: Mapping[str, Any]
) -> list[tuple[str, str, str | None]]:
    """``(option key, first missing key path, closest existing key path or None)`` for every
    dotted key of ``options`` that does not exist in ``cfg`` (list indices are followed)."""
    found = []
    for full_key in options:
        node: Any = cfg
        parts = str(full_key).split(".")
        for depth, part in enumerate(parts):
            prefix = ".".join(parts[:depth])
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                if isinstance(node, Mapping) or depth == 0:
                    closest = _closest(part, node)
                    path = f"{prefix}.{part}" if prefix else part
                    closest_path = (
                        (f"{prefix}.{closest}" if prefix else closest) if closest else None
                    )
                    found.append((str(full_key), path, closest_path))
                break  # a non-dict value on the way: the merge itself reports it
    return found


def describe_new_keys(new_keys: list[tuple[str, str, str | None]]) -> str:
    """One line per new key: ``` `data.sample_per_gpu` (closest existing key:
    `data.samples_per_gpu`)```."""
    return "; ".join(
        f"`{path}`" + (f" (closest existing key: `{closest}`)" if closest else "")
        for _, path, closest in new_keys
    )
