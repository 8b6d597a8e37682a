"""fastprogress bars over epochs and iterations, a per-epoch table (as fastai's) and, in
notebooks, a live plot of the train loss, the val loss and the val metric on one figure.

Add ``dict(type='ProgressBarHook')`` to ``log_config.hooks`` (nb04 does); it shows in a
terminal too (the table as aligned text). The table has one row per epoch: ``epoch``,
``train_loss`` (the mean of the epoch's iteration losses), ``valid_loss`` when the workflow has
a ``('val', n)`` phase, the ``metrics`` columns when an evaluation hook is registered (``#na#``
in an epoch without evaluation) and ``time`` (the epoch's wall time with its validation,
``mm:ss``); the row is written once the epoch's validation is done. Rank 0 only; where it
shows is the process's :func:`~detkit.engine.hooks.progress_view.make_view`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastprogress.core import format_time

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.evaluation import EvalHook
from detkit.engine.hooks.progress_view import Curves, make_view
from detkit.registry import HOOKS

__all__ = ["ProgressBarHook"]


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Args:
    plot_interval: iterations between plot refreshes (notebook only).
    metric: the evaluation metric drawn next to the losses (if an EvalHook produces it).
    metrics: the evaluation metrics shown as table columns.
    """

    priority = 80  # after the EvalHook (LOW) and early stopping, before the logger (VERY_LOW)

    def __init__(
        self,
        plot_interval: int = 10,
        metric: str = "bbox_mAP",
        metrics: Sequence[str] = ("bbox_mAP", "segm_mAP"),
        **_: Any,
    ) -> None:
        self.plot_interval = plot_interval
        self.metric = metric
        self.columns = list(metrics)
        self.curves = Curves(metric_name=metric)
        self.rows: list[list[str]] = []
        self.view: Any = None
        self.with_val = False
        self._epoch_start = 0.0
        self._epoch_losses: list[float] = []
        self._pending: list[str] | None = None
        self._metric_cells: list[str] = []

    @property
    def losses(self) -> list[tuple[int, float]]:
        """``(iteration, loss)`` of every training iteration."""
        return self.curves.train

    @property
    def metrics(self) -> list[tuple[int, float]]:
        """``(iterations done, value)`` of every evaluation of ``metric``."""
        return self.curves.metric

    @property
    def val_losses(self) -> list[tuple[int, float]]:
        """``(iterations done, val loss)`` of every val phase."""
        return self.curves.val

    def before_run(self, runner: Any) -> None:
        if not is_main_process():
            return
        self.with_val = any(mode == "val" for mode, _ in getattr(runner, "workflow", []))
        if not any(isinstance(hook, EvalHook) for hook in runner.hooks):
            self.columns = []
        header = ["epoch", "train_loss", *(["valid_loss"] if self.with_val else []), *self.columns]
        self.view = make_view()
        self.view.start(runner.max_epochs, runner.epoch, [*header, "time"])

    def before_train_epoch(self, runner: Any) -> None:
        if self.view is None:
            return
        self._epoch_start = time.time()
        self._epoch_losses = []
        self.view.epoch_start(len(runner.data_loader))

    def after_train_iter(self, runner: Any) -> None:
        if self.view is None:
            return
        loss = float(runner.outputs["log_vars"].get("loss", float("nan")))
        self.curves.train.append((runner.iter + 1, loss))
        self._epoch_losses.append(loss)
        self.view.step(runner.inner_iter + 1, f"loss {loss:.4f}")
        if (runner.iter + 1) % self.plot_interval == 0:
            self.view.curves(self.curves)

    def after_train_epoch(self, runner: Any) -> None:
        if self.view is None:
            return
        output = runner.log_buffer.output if runner.log_buffer.ready else {}
        if self.metric in output:
            self.curves.metric.append((runner.iter, float(output[self.metric])))
        losses = self._epoch_losses
        row = [str(runner.epoch + 1), f"{sum(losses) / len(losses):.4f}" if losses else "nan"]
        self._pending = row
        self._metric_cells = [
            f"{float(output[name]):.4f}" if name in output else "#na#" for name in self.columns
        ]
        if not self.with_val:
            self._write_row(runner, epochs_done=runner.epoch + 1)

    def after_val_epoch(self, runner: Any) -> None:
        if self.view is None or self._pending is None:
            return
        val_loss = runner.val_metrics.get("val_loss")
        if val_loss is not None:
            self.curves.val.append((runner.iter, float(val_loss)))
        self._pending.append("#na#" if val_loss is None else f"{val_loss:.4f}")
        self._write_row(runner, epochs_done=runner.epoch)

    def _write_row(self, runner: Any, epochs_done: int) -> None:
        row = [
            *(self._pending or []),
            *self._metric_cells,
            format_time(time.time() - self._epoch_start),
        ]
        self._pending = None
        self.rows.append(row)
        self.view.row(row, epochs_done)
        self.view.curves(self.curves)

    def after_run(self, runner: Any) -> None:
        if self.view is not None:
            self.view.finish()
            self.view = None
