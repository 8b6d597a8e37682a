"""Helpers shared by the v2 <-> v3 translators: type names, the translation context."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detkit.config.v3.report import ConversionReport

__all__ = ["Context", "type_name", "plain", "V3_SCOPE", "TORCH_NORM_NAMES"]

# detkit registers MMDetection 3.x components whose name or semantics clash with v2's under
# this scope (``'mmdet3.Rotate'``): the registry looks such a name up as written.
V3_SCOPE = "mmdet3."
_FOREIGN_SCOPES = ("mmdet.", "mmcv.", "mmengine.", "detkit.")
# torch classes that pure-Python v3 configs name directly, and mmcv's names for them
TORCH_NORM_NAMES = {
    "BatchNorm2d": "BN",
    "SyncBatchNorm": "SyncBN",
    "GroupNorm": "GN",
    "LayerNorm": "LN",
    "InstanceNorm2d": "IN",
}


def type_name(value: Any) -> str:
    """The registry name of a config ``type``: a string without an ``mmdet.``/``mmcv.``/
    ``mmengine.`` scope (``'mmdet.Resize'`` -> ``'Resize'``); a class or an imported name of a
    pure-Python config gives its name."""
    name = value if isinstance(value, str) else getattr(value, "__name__", str(value))
    name = str(name)
    if "::" in name:
        name = name.split("::", 1)[1]
    for scope in _FOREIGN_SCOPES:
        if name.startswith(scope) and scope != "detkit.":
            return name[len(scope) :]
    return name


def plain(value: Any) -> Any:
    """A deep copy of ``value`` as plain dicts/lists/tuples (attribute dicts included), with
    imported names of pure-Python configs turned into their registry names."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, str) and type(value) is not str:
        return str(value)
    if isinstance(value, type) or callable(value):
        return type_name(value)
    return copy.deepcopy(value)


@dataclass
class Context:
    """State of one translation.

    Attributes:
        report: where keys that did not map exactly are recorded.
        target: ``'detkit'`` (run in detkit: v3-only semantics kept by ``mmdet3.*``
            components) or ``'v2'`` (a config for MMDetection 2.x: nearest v2 components,
            differences reported), for the v3 -> v2 direction; ``'v3'`` for v2 -> v3.
        normalize: the ``Normalize`` (and ``Pad``) transforms that stand for v3's
            ``model.data_preprocessor`` (v3 -> v2), or the preprocessor read from a v2
            pipeline (v2 -> v3).
    """

    report: ConversionReport
    target: str = "detkit"
    normalize: list[dict[str, Any]] = field(default_factory=list)
