"""fastprogress bars over epochs and iterations, a per-epoch table (as fastai's) and, in
notebooks, a live loss (and metric) plot.

Add ``dict(type='ProgressBarHook')`` to ``log_config.hooks`` (nb04 does); it shows in a
terminal too (the table as aligned text). The table has one row per epoch: ``epoch``,
``train_loss`` (the mean of the epoch's iteration losses), the ``metrics`` columns when an
evaluation hook is registered (``#na#`` in an epoch without evaluation) and ``time`` (the
epoch's wall time with its evaluation, ``mm:ss``). Rank 0 only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastprogress.core import format_time
from fastprogress.fastprogress import NBMasterBar, master_bar, progress_bar

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.evaluation import EvalHook
from detkit.registry import HOOKS

__all__ = ["ProgressBarHook"]


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Args:
    plot_interval: iterations between plot refreshes (notebook only).
    metric: the evaluation metric drawn next to the loss (if an EvalHook produces it).
    metrics: the evaluation metrics shown as table columns.
    """

    priority = 80  # after the EvalHook (LOW), before the logger (VERY_LOW) clears metrics

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
        self.losses: list[tuple[int, float]] = []
        self.metrics: list[tuple[int, float]] = []
        self.rows: list[list[str]] = []
        self.master: Any = None
        self.bar: Any = None
        self._epoch_start = 0.0
        self._epoch_losses: list[float] = []

    def before_run(self, runner: Any) -> None:
        if not is_main_process():
            return
        if not any(isinstance(hook, EvalHook) for hook in runner.hooks):
            self.columns = []
        self.master = master_bar(range(runner.max_epochs))
        self.master.update(runner.epoch)
        self.master.write(["epoch", "train_loss", *self.columns, "time"], table=True)
        if isinstance(self.master, NBMasterBar):  # the plot's legend (a console bar's table header)
            self.master.names = ["train loss", self.metric]

    def before_train_epoch(self, runner: Any) -> None:
        if self.master is None:
            return
        self._epoch_start = time.time()
        self._epoch_losses = []
        self.bar = progress_bar(range(len(runner.data_loader)), parent=self.master)
        self.bar.update(0)

    def _plot(self) -> None:
        graphs = [[[x for x, _ in self.losses], [y for _, y in self.losses]]]
        if self.metrics:
            graphs.append([[x for x, _ in self.metrics], [y for _, y in self.metrics]])
        self.master.update_graph(graphs)

    def after_train_iter(self, runner: Any) -> None:
        if self.bar is None:
            return
        loss = float(runner.outputs["log_vars"].get("loss", float("nan")))
        self.losses.append((runner.iter + 1, loss))
        self._epoch_losses.append(loss)
        self.bar.comment = f"loss {loss:.4f}"
        self.bar.update(runner.inner_iter + 1)
        if (runner.iter + 1) % self.plot_interval == 0:
            self._plot()

    def after_train_epoch(self, runner: Any) -> None:
        if self.master is None:
            return
        output = runner.log_buffer.output if runner.log_buffer.ready else {}
        if self.metric in output:
            self.metrics.append((runner.iter, float(output[self.metric])))  # iterations done
        loss = (
            sum(self._epoch_losses) / len(self._epoch_losses)
            if self._epoch_losses
            else float("nan")
        )
        row = [str(runner.epoch + 1), f"{loss:.4f}"]
        row += [f"{float(output[name]):.4f}" if name in output else "#na#" for name in self.columns]
        row.append(format_time(time.time() - self._epoch_start))
        self.rows.append(row)
        self.master.write(row, table=True)
        self._plot()
        self.master.update(runner.epoch + 1)

    def after_run(self, runner: Any) -> None:
        self.master = self.bar = None
