"""The one hook between config loading and the v3 translation: ``Config.fromfile`` (and the
config loader) pass every loaded dict through :func:`load_translated`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from detkit.config.v3.schema import config_generation
from detkit.config.v3.translate import to_internal

__all__ = ["load_translated"]


def load_translated(cfg: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """``cfg`` unchanged if it is a v2 config, else its detkit translation.

    Approximations are reported in one ``UserWarning``; dropped keys silently.

    Raises:
        ConfigTranslationError: keys of both generations, or v3 keys without an equivalent
            (the message lists each with the reason).
    """
    if config_generation(cfg, where) == "v2":
        return cfg
    translated, report = to_internal(cfg)
    report.raise_unsupported(where)
    approximate = report.of_kind("approximate")
    if approximate:
        listed = "\n  ".join(str(entry) for entry in approximate)
        warnings.warn(
            f"{where} is an MMDetection 3.x config; {len(approximate)} key(s) run with "
            f"detkit's nearest semantics:\n  {listed}",
            UserWarning,
            stacklevel=3,
        )
    return translated
