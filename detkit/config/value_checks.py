"""Type and range checks of the config values the training engine reads as numbers, so that
``samples_per_gpu=0``, ``optimizer.lr=abc`` or ``lr_config.warmup_iters=ten`` fail up front
naming the key path and the value, not deep inside a sampler, optimizer or hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

__all__ = ["check_config_values"]


def _int(low: int) -> tuple[Callable[[Any], bool], str]:
    def ok(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    return ok, f"an int >= {low}"


def _number(low: float, strict: bool = False) -> tuple[Callable[[Any], bool], str]:
    def ok(value: Any) -> bool:
        if not isinstance(value, Real) or isinstance(value, bool):
            return False
        number = float(value)
        return number > low if strict else number >= low

    return ok, f"a number {'>' if strict else '>='} {low}"


def _steps(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return bool(items) and all(_int(1)[0](v) for v in items)


_LOADER = {"samples_per_gpu": _int(1), "workers_per_gpu": _int(0)}
# key path (``*`` = any loader section) -> (check, description); absent or None keys are not checked
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{f"data.{key}": check for key, check in _LOADER.items()},
    **{
        f"data.{section}.{key}": check
        for section in ("train_dataloader", "val_dataloader", "test_dataloader")
        for key, check in _LOADER.items()
    },
    "optimizer.lr": _number(0),
    "optimizer.momentum": _number(0),
    "optimizer.weight_decay": _number(0),
    "optimizer_config.grad_clip.max_norm": _number(0, strict=True),
    "lr_config.warmup_iters": _int(0),
    "lr_config.warmup_ratio": _number(0),
    "lr_config.gamma": _number(0, strict=True),
    "lr_config.step": (_steps, "an int >= 1 or a list of them"),
    "runner.max_epochs": _int(1),
    "runner.max_iters": _int(1),
    "total_epochs": _int(1),
    "checkpoint_config.interval": (lambda v: _int(1)[0](v) or v == -1, "an int >= 1 (or -1)"),
    "checkpoint_config.max_keep_ckpts": (lambda v: _int(1)[0](v) or v == -1, "an int >= 1 (or -1)"),
    "log_config.interval": _int(1),
    "evaluation.interval": _int(1),
    "seed": _int(0),
}


def _lookup(cfg: Mapping[str, Any], path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if isinstance(node, (str, bytes, list, tuple)) or not hasattr(node, "get"):
            return None
        node = node.get(part)
    return node


def check_config_values(cfg: Mapping[str, Any] | Any) -> None:
    """``cfg``: a :class:`~detkit.config.Config` or a dict. Raise ValueError naming the first
    config key path whose value has the wrong type or range.

    Raises:
        ValueError: e.g. ``config key `data.samples_per_gpu` must be an int >= 1, got 0``.
    """
    for path, (ok, description) in _CHECKS.items():
        value = _lookup(cfg, path)
        if value is not None and not ok(value):
            raise ValueError(f"config key `{path}` must be {description}, got {value!r}")
