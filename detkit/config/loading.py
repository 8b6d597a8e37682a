"""``Config.load``: the one way every entry point (tools, notebooks, ``init_detector``, the
deploy runtimes, the analysis tools, experiment comparisons) turns a config file into the config
it runs with.

The steps, in MMDetection v2.28's ``tools/train.py`` / ``tools/test.py`` order:

1. read the file and its ``_base_`` chain (:meth:`Config.fromfile`; a ``Config`` is copied);
2. translate another schema (MMDetection 3.x) into v2's as the file is read
   (:mod:`detkit.config.translators`, inside :meth:`Config.fromfile`);
3. resolve ``${a.b}`` references (:func:`~detkit.config.references.replace_cfg_vals`);
4. apply the ``MMDET_DATASETS`` data-root override
   (:func:`~detkit.config.runtime.update_data_root`);
5. merge the ``--cfg-options`` (a key the config lacks warns, or with ``strict`` fails);
6. apply the legacy rules (``total_epochs = N`` without ``runner`` becomes
   ``runner = dict(type='EpochBasedRunner', max_epochs=N)``;
   :func:`~detkit.config.runtime.compat_runner_args`).

Every step is idempotent, so loading an already loaded ``Config`` again changes nothing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from detkit.config.config import Config
from detkit.config.references import replace_cfg_vals
from detkit.config.runtime import compat_runner_args, update_data_root

__all__ = ["load_config"]


def _read(source: str | os.PathLike[str] | Config) -> Config:
    if isinstance(source, Config):
        return copy.deepcopy(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"config must be a file path or a Config, got {type(source).__name__}")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"config file not found: {os.fspath(source)}")
    return Config.fromfile(source)


def load_config(
    source: str | os.PathLike[str] | Config,
    cfg_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read ``source`` and prepare it as every detkit entry point does (steps above).

    Args:
        source: a config file (.py/.json/.yaml/.yml) or a ``Config`` (copied, not changed).
        cfg_options: dotted-key overrides (``{'model.roi_head.bbox_head.0.num_classes': 8}``).
        strict: a ``cfg_options`` key the config does not have is a KeyError (default: a
            warning naming it and the closest existing key).
        environ: where ``MMDET_DATASETS`` is read (default ``os.environ``).

    Raises:
        FileNotFoundError: no file at ``source``.
        TypeError: ``source`` is neither a path nor a ``Config``.
        KeyError: an unknown ``${}`` reference, a strict unknown option, ``MMDET_DATASETS`` set
            for a config without ``data_root``.
        ValueError: ``total_epochs`` disagrees with ``runner.max_epochs``; a bad value.
    """
    cfg = _read(source)
    cfg = replace_cfg_vals(cfg)
    update_data_root(cfg, environ)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options), strict=strict)
    return compat_runner_args(cfg)
