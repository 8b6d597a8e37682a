"""MMDetection-v2-compatible config files: ``Config.fromfile`` with ``_base_`` inheritance,
merge rules, ``--cfg-options``, ``custom_imports`` and the tools' post-processing steps.

Modules: ``config_dict`` (attribute dicts), ``file_loading`` (files and ``_base_`` chains),
``merging`` (merge rules), ``options`` (``--cfg-options`` grammar, ``DictAction``),
``custom_imports``, ``pretty`` and ``formats`` (writing), ``references`` (``${a.b}``),
``runtime`` (data root override, work_dir, legacy epochs), ``option_keys`` (new ``--cfg-options``
keys and their closest existing ones), ``value_checks`` (types of the numbers training reads).
"""

from detkit.config.config import Config
from detkit.config.config_dict import ConfigDict
from detkit.config.custom_imports import import_modules_from_strings
from detkit.config.options import DictAction, parse_option_value
from detkit.config.references import replace_cfg_vals
from detkit.config.runtime import compat_runner_args, resolve_work_dir, update_data_root
from detkit.config.value_checks import check_config_values

__all__ = [
    "Config",
    "ConfigDict",
    "check_config_values",
    "DictAction",
    "compat_runner_args",
    "import_modules_from_strings",
    "parse_option_value",
    "replace_cfg_vals",
    "resolve_work_dir",
    "update_data_root",
]
