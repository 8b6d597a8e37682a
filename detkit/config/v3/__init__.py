"""MMDetection 3.x configs in detkit: detection of the generation, translation to detkit's
internal (v2-schema) config at load time, and the converter both ways.

Modules: ``schema`` (which generation), ``report`` (what did not map), ``common`` (names,
context), ``pipelines``/``data``/``schedule``/``runtime`` (v3 -> v2 by topic), ``translate``
(:func:`to_internal`), ``loading`` (:func:`load_translated`, the hook of ``Config.fromfile``),
``to_v3``/``to_v3_data`` (the converter's v2 -> v3 direction), ``pure_python`` (MMEngine's
``read_base()`` configs), ``scope`` (``mmdet::`` paths on this machine). See docs/migration.md.
"""

from detkit.config.v3.loading import load_translated
from detkit.config.v3.report import ConfigTranslationError, ConversionReport, ReportEntry
from detkit.config.v3.schema import config_generation
from detkit.config.v3.translate import to_internal

__all__ = [
    "ConfigTranslationError",
    "ConversionReport",
    "ReportEntry",
    "config_generation",
    "load_translated",
    "to_internal",
]
