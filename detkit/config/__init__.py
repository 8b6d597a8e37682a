"""MMDetection-v2-compatible config files.

Every entry point loads a config with :meth:`Config.load` (``detkit.config.loading``): the file
and its ``_base_`` chain, the schema hook, ``${a.b}`` references, the ``MMDET_DATASETS``
override, ``--cfg-options`` and the legacy rules. The values used for keys a config leaves out
and the evaluation-hook keys live in ``settings``.

Modules: ``config`` (``Config``), ``loading`` (``Config.load``), ``translators`` (the schema
step: MMDetection 3.x files read in v2's keys), ``v3`` (MMDetection 3.x configs: translation and
``to_v3`` / ``to_internal`` conversion, as ``tools/misc/convert_config.py`` runs it),
``config_dict`` (attribute dicts), ``file_loading`` (files and ``_base_`` chains), ``merging``
(merge rules), ``options`` (``--cfg-options`` grammar, ``DictAction``), ``custom_imports``,
``pretty`` and ``formats`` (writing), ``references`` (``${a.b}``), ``runtime`` (data root
override, work_dir, legacy epochs), ``settings`` (defaults, loader and evaluation arguments),
``option_keys`` (new ``--cfg-options`` keys and their closest existing ones), ``value_checks``
(types of the numbers training reads).
"""

from detkit.config.config import Config
from detkit.config.config_dict import ConfigDict
from detkit.config.custom_imports import import_modules_from_strings
from detkit.config.loading import load_config
from detkit.config.options import DictAction, parse_option_value
from detkit.config.references import replace_cfg_vals
from detkit.config.runtime import compat_runner_args, resolve_work_dir, update_data_root
from detkit.config.settings import evaluation_kwargs, loader_settings, setting
from detkit.config.translators import register_schema_translator
from detkit.config.v3 import config_generation, to_internal
from detkit.config.v3.to_v3 import to_v3
from detkit.config.value_checks import check_config_values

__all__ = [
    "Config",
    "ConfigDict",
    "DictAction",
    "check_config_values",
    "compat_runner_args",
    "config_generation",
    "evaluation_kwargs",
    "import_modules_from_strings",
    "load_config",
    "loader_settings",
    "parse_option_value",
    "register_schema_translator",
    "replace_cfg_vals",
    "resolve_work_dir",
    "setting",
    "to_internal",
    "to_v3",
    "update_data_root",
]
