"""Which MMDetection generation a config is written for, read from its keys (never guessed).

v3 (MMEngine) configs have top-level keys that v2 configs never have (``train_dataloader``,
``optim_wrapper``, ``param_scheduler``, ``default_hooks``, ``default_scope``, ...) and
``model.data_preprocessor``; v2 configs have ``data``, ``optimizer``, ``lr_config``,
``runner``, ``evaluation``, ... Top-level ``train_cfg``/``test_cfg`` exist in both: in v3 they
are loops (``type='EpochBasedTrainLoop'`` or ``max_epochs``/``max_iters``/``val_interval``),
in v2 the legacy model training/testing settings.

>>> config_generation({'data': {}, 'optimizer': {}})
'v2'
>>> config_generation({'train_dataloader': {}, 'model': {'data_preprocessor': {}}})
'v3'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.config.v3.report import ConfigTranslationError

__all__ = ["V2_KEYS", "V3_KEYS", "config_generation", "generation_keys"]

V3_KEYS = (
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "optim_wrapper",
    "param_scheduler",
    "val_evaluator",
    "test_evaluator",
    "default_hooks",
    "default_scope",
    "env_cfg",
    "val_cfg",
    "vis_backends",
    "visualizer",
    "log_processor",
    "randomness",
)
V2_KEYS = (
    "data",
    "optimizer",
    "optimizer_config",
    "lr_config",
    "momentum_config",
    "runner",
    "total_epochs",
    "evaluation",
    "checkpoint_config",
    "log_config",
    "workflow",
    "resume_from",
    "dist_params",
)
_LOOP_KEYS = ("max_epochs", "max_iters", "val_interval", "val_begin", "by_epoch")


def _is_loop(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    loop_type = str(value.get("type", ""))
    return loop_type.endswith("Loop") or any(key in value for key in _LOOP_KEYS)


def generation_keys(cfg: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(the v2-only keys, the v3-only keys) that ``cfg`` has, as dotted paths."""
    v2 = [key for key in V2_KEYS if key in cfg]
    v3 = [key for key in V3_KEYS if key in cfg]
    for key in ("train_cfg", "test_cfg"):
        if _is_loop(cfg.get(key)):
            v3.append(key)
    if isinstance(cfg.get("resume"), bool):
        v3.append("resume")
    model = cfg.get("model")
    if isinstance(model, Mapping) and "data_preprocessor" in model:
        v3.append("model.data_preprocessor")
    return v2, v3


def config_generation(cfg: Mapping[str, Any], where: str = "config") -> str:
    """``'v3'`` if ``cfg`` has MMDetection-3.x-only keys, else ``'v2'`` (also for configs with
    keys of neither, e.g. a model-only base file).

    Raises:
        ConfigTranslationError: keys of both generations (names them).
    """
    v2, v3 = generation_keys(cfg)
    if v2 and v3:
        raise ConfigTranslationError(
            f"{where} mixes MMDetection v2 keys ({', '.join(v2)}) with v3 keys "
            f"({', '.join(v3)}); write it in one generation (tools/misc/convert_config.py "
            "converts a whole config)"
        )
    return "v3" if v3 else "v2"
