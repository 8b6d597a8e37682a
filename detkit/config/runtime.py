"""Config steps the v2.28 tools run after loading: the ``MMDET_DATASETS`` data-root
override and the legacy ``total_epochs`` -> ``runner`` conversion (both run by
:meth:`Config.load <detkit.config.Config.load>`), and the ``work_dir`` default of training.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any

from detkit.config.config import Config

__all__ = ["DATASETS_ENV", "update_data_root", "resolve_work_dir", "compat_runner_args"]

DATASETS_ENV = "MMDET_DATASETS"
_LOGGER = logging.getLogger(__name__)


def _replace_in_strings(node: Any, old: str, new: str) -> Any:
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, Mapping):
        return {key: _replace_in_strings(value, old, new) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        items = [_replace_in_strings(value, old, new) for value in node]
        return items if isinstance(node, list) else tuple(items)
    return node


def update_data_root(cfg: Config, environ: Mapping[str, str] | None = None) -> bool:
    """If ``MMDET_DATASETS`` is set, swap ``cfg.data_root`` for it in every string under
    ``cfg.data`` and set ``cfg.data_root`` to it.

    Args:
        cfg: the config, changed in place.
        environ: where to read the variable (default ``os.environ``).

    A config with neither ``data_root`` nor ``data`` (a model-only file) has nothing to
    override and is left alone.

    Returns:
        Whether the override was applied.

    Raises:
        KeyError: the variable is set but the config has only one of ``data_root`` and ``data``.
        ValueError: ``data_root`` is empty or not a string.
    """
    environ = os.environ if environ is None else environ
    new_root = environ.get(DATASETS_ENV)
    if new_root is None or ("data_root" not in cfg and "data" not in cfg):
        return False
    for key in ("data_root", "data"):
        if key not in cfg:
            raise KeyError(
                f"{DATASETS_ENV} is set to {new_root!r}, but config {cfg.filename} has no "
                f"`{key}` key to update"
            )
    if not isinstance(cfg.data_root, str) or not cfg.data_root:
        raise ValueError(
            f"{DATASETS_ENV} is set, but config {cfg.filename} has data_root = "
            f"{cfg.data_root!r}; it must be a non-empty path string to be replaced"
        )
    _LOGGER.info(
        "%s is set: using %s as data root instead of %s", DATASETS_ENV, new_root, cfg.data_root
    )
    cfg.data = _replace_in_strings(cfg.data, cfg.data_root, new_root)
    cfg.data_root = new_root
    return True


def resolve_work_dir(
    cfg: Config, work_dir: str | None = None, config_path: str | os.PathLike[str] | None = None
) -> str:
    """Set and return ``cfg.work_dir``: ``work_dir`` (``--work-dir``) if given, else the
    config's own ``work_dir``, else ``./work_dirs/<config file stem>``.

    Args:
        cfg: the config, changed in place.
        work_dir: the command-line value, or None.
        config_path: the config file (default ``cfg.filename``), for the default name.

    Raises:
        ValueError: no work dir is given and the config has no file name to derive one.
    """
    if work_dir is not None:
        cfg.work_dir = os.fspath(work_dir)
    elif cfg.get("work_dir") is None:
        source = config_path if config_path is not None else cfg.filename
        if source is None:
            raise ValueError(
                "cannot choose a work_dir: pass --work-dir, set work_dir in the config, "
                "or load the config from a file"
            )
        stem = os.path.splitext(os.path.basename(os.fspath(source)))[0]
        cfg.work_dir = os.path.join("./work_dirs", stem)
    return str(cfg.work_dir)


def compat_runner_args(cfg: Config) -> Config:
    """Give a legacy config (``total_epochs = N``, no ``runner``) a
    ``runner = dict(type='EpochBasedRunner', max_epochs=N)``; ``total_epochs`` stays. A config
    with neither (a test-only or model-only file) is left alone: training asks for ``runner``.

    Raises:
        ValueError: both are set and disagree.
    """
    if "runner" not in cfg:
        if "total_epochs" not in cfg:
            return cfg
        cfg.runner = dict(type="EpochBasedRunner", max_epochs=cfg.total_epochs)
        warnings.warn(
            f"config {cfg.filename} uses the legacy `total_epochs = {cfg.total_epochs}`; "
            f"set runner = dict(type='EpochBasedRunner', max_epochs={cfg.total_epochs}) instead",
            UserWarning,
            stacklevel=2,
        )
    elif "total_epochs" in cfg and cfg.total_epochs != cfg.runner.get("max_epochs"):
        raise ValueError(
            f"config {cfg.filename} sets total_epochs = {cfg.total_epochs} but "
            f"runner.max_epochs = {cfg.runner.get('max_epochs')}; keep only `runner`"
        )
    return cfg
