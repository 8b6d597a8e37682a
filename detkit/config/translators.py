"""The schema step of config loading: a config file written in another schema (MMDetection 3.x)
is rewritten in MMDetection v2's keys, which detkit runs, as soon as it is read
(:meth:`~detkit.config.Config.fromfile`, and so :meth:`~detkit.config.Config.load`).

A translator is a callable ``translate(cfg, where) -> Mapping | None``: ``cfg`` is the merged
file (its ``_base_`` chain applied), ``where`` names it for messages; it returns the config in
v2's keys when it recognises ``cfg``'s schema, or None to leave it to the next translator. The
first that answers wins. MMDetection 3.x's translator (:mod:`detkit.config.v3`) is built in;
:func:`register_schema_translator` adds others after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from detkit.config.v3.loading import load_translated

__all__ = ["SchemaTranslator", "register_schema_translator", "translate_schema"]

SchemaTranslator = Callable[[Mapping[str, Any], str], "Mapping[str, Any] | None"]


def _mmdet_v3(cfg: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    translated = load_translated(cfg, where)
    return None if translated is cfg else translated


_TRANSLATORS: list[SchemaTranslator] = [_mmdet_v3]


def register_schema_translator(translator: SchemaTranslator) -> SchemaTranslator:
    """Add ``translator`` to the schema step (usable as a decorator); translators are asked in
    registration order, after the built-in MMDetection 3.x one. Registering the same one twice
    is a no-op."""
    if translator not in _TRANSLATORS:
        _TRANSLATORS.append(translator)
    return translator


def translate_schema(cfg: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """``cfg`` in MMDetection v2's keys: the first translator's answer, or ``cfg`` itself.

    Raises:
        ConfigTranslationError: an MMDetection 3.x config with keys of both generations or
            keys without an equivalent (the message lists each with the reason).
    """
    for translator in _TRANSLATORS:
        translated = translator(cfg, where)
        if translated is not None:
            return translated
    return cfg
