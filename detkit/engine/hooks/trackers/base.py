"""Base class of the experiment-tracker logger hooks (mmcv ``LoggerHook``): TensorBoard,
MLflow, Weights & Biases.

A tracker logs the same records as the JSON log (:func:`~detkit.engine.hooks.logger.log_record`)
as scalars named like mmcv's: ``learning_rate``, ``train/<key>`` for every loss, ``time``,
``data_time``, ``memory`` (and ``grad_norm`` when clipping), ``val/<metric>`` after an
evaluation. Steps are mmcv's: a train record after global iteration ``i`` (1-based) has step
``i``; an evaluation after an epoch of ``i`` iterations in all has step ``i + 1`` (W&B keeps
one row per step and drops values logged to a step already committed)

Trackers run between the evaluation hook (``LOW``) and the text logger (``VERY_LOW``), which
clears the buffer after writing its line; a train record averages the last ``interval``
updates, as the text logger's line with the same interval (``log_config.interval`` is given to
every hook in ``log_config.hooks``). Rank 0 only: other ranks never open a tracker.
"""

from __future__ import annotations

import abc
import importlib
from types import ModuleType
from typing import Any

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.logger import log_record

__all__ = ["TrackerHook", "import_extra", "tracker_scalars"]


def import_extra(module: str, extra: str, hook: str) -> ModuleType:
    """``import module`` or an ImportError naming the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{hook} needs the {module!r} package: pip install 'detkit[{extra}]'"
        ) from error


def tracker_scalars(record: dict[str, Any]) -> dict[str, float]:
    """``{tag: value}`` for the numeric fields of a JSON-log record (mmcv's tag names)."""
    scalars = {"learning_rate": float(record["lr"])}
    for key, value in record.items():
        if key in ("mode", "epoch", "iter", "lr") or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            scalars[f"{record['mode']}/{key}"] = float(value)
    return scalars


class TrackerHook(Hook, abc.ABC):
    """Args (mmcv ``LoggerHook``): interval (iterations between records), ignore_last (skip the
    last, partial interval of an epoch; False as detkit's text logger), reset_flag (accepted
    for mmcv configs: the text logger clears the buffer), by_epoch. Subclasses
    implement ``open(runner)``, ``write(scalars, step, runner)`` and ``close(runner)``."""

    priority = 85

    def __init__(
        self,
        interval: int = 10,
        ignore_last: bool = False,
        reset_flag: bool = False,
        by_epoch: bool = True,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"log_config.interval must be positive, got {interval}")
        self.interval = interval
        self.ignore_last = ignore_last
        self.by_epoch = by_epoch
        self.active = False
        self._logged_inner = 0
        self._metrics_step: int | None = None

    # -- each tracker implements these ------------------------------------------------------
    @abc.abstractmethod
    def open(self, runner: Any) -> None:
        """Start the tracker's run (rank 0, before the first iteration)."""

    @abc.abstractmethod
    def write(self, scalars: dict[str, float], step: int, runner: Any) -> None:
        """Log ``scalars`` (tag -> value) at global iteration ``step``."""

    @abc.abstractmethod
    def close(self, runner: Any) -> None:
        """Flush and end the tracker's run (after the last iteration)."""

    # -- runner calls ------------------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        self.active = is_main_process()
        if self.active:
            self.open(runner)

    def after_run(self, runner: Any) -> None:
        if self.active:
            self.close(runner)
            self.active = False

    def before_epoch(self, runner: Any) -> None:
        self._logged_inner = 0

    def _write_record(self, runner: Any, output: dict[str, Any], step: int) -> None:
        self.write(tracker_scalars(log_record(runner, output, self.by_epoch)), step, runner)

    def fresh_metrics(self, runner: Any, step: int) -> bool:
        """True when an evaluation put metrics in the buffer that are not written yet."""
        buffer = runner.log_buffer
        return (
            self.active
            and buffer.ready
            and "eval_iter_num" in buffer.output
            and step != self._metrics_step
        )

    def _write_metrics(self, runner: Any, step: int) -> None:
        if self.fresh_metrics(runner, step):
            self._write_record(runner, runner.log_buffer.output, step)
            self._metrics_step = step

    def after_train_iter(self, runner: Any) -> None:
        self._write_metrics(runner, runner.iter + 1)  # an iteration-based evaluation
        done = runner.inner_iter + 1
        due = self.every_n_inner_iters(runner, self.interval) or (
            self.end_of_epoch(runner) and not self.ignore_last
        )
        if self.active and due and done > self._logged_inner:
            means = runner.log_buffer.mean(done - self._logged_inner)
            if "time" in means:  # an iteration-based evaluation just cleared the buffer
                self._write_record(runner, means, runner.iter + 1)
            self._logged_inner = done

    def after_train_epoch(self, runner: Any) -> None:
        self._write_metrics(runner, runner.iter + 1)

    def after_val_epoch(self, runner: Any) -> None:
        if self.active:
            self._write_record(runner, runner.log_buffer.mean(), runner.iter + 1)
