"""Read and write the data config formats (.json, .yaml/.yml).

YAML keeps tuples: they are written with the ``!!python/tuple`` tag and read back by a
safe loader that knows only that one extra tag. JSON has no tuples, so they come back as
lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from detkit.config.config_dict import to_plain
from detkit.io import write_text

__all__ = ["DATA_SUFFIXES", "PY_SUFFIX", "SUPPORTED_SUFFIXES", "parse_data_text", "dump_data"]

PY_SUFFIX = ".py"
DATA_SUFFIXES = (".json", ".yaml", ".yml")
SUPPORTED_SUFFIXES = (PY_SUFFIX,) + DATA_SUFFIXES
_TUPLE_TAG = "tag:yaml.org,2002:python/tuple"


class _TupleSafeLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``!!python/tuple`` sequences."""


class _TupleSafeDumper(yaml.SafeDumper):
    """SafeDumper that writes tuples as ``!!python/tuple`` sequences."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!!python/tuple needs a sequence")
    return tuple(loader.construct_sequence(node, deep=True))


_TupleSafeLoader.add_constructor(_TUPLE_TAG, _construct_tuple)
_TupleSafeDumper.add_representer(
    tuple, lambda dumper, data: dumper.represent_sequence(_TUPLE_TAG, data)
)


def parse_data_text(text: str, suffix: str, filename: str) -> dict[str, Any]:
    """Parse JSON/YAML ``text`` (from ``filename``) into a dict.

    Raises:
        ValueError: the text does not parse or its top level is not a mapping.
    """
    try:
        data = json.loads(text) if suffix == ".json" else yaml.load(text, _TupleSafeLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"config file {filename} could not be parsed: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"config file {filename} must hold a mapping at top level, got {type(data).__name__}"
        )
    return data


def dump_data(cfg: dict[str, Any], path: Path) -> None:
    """Write ``cfg`` to ``path`` as JSON or YAML, chosen by the suffix."""
    plain = to_plain(cfg)
    if path.suffix == ".json":
        write_text(path, json.dumps(plain, indent=4) + "\n")
    else:
        write_text(path, yaml.dump(plain, Dumper=_TupleSafeDumper, sort_keys=False))
