"""fastprogress bars over epochs and iterations, with a live loss (and metric) plot in notebooks.

Enabled by default by ``train_detector`` when running inside a Jupyter kernel; add
``dict(type='ProgressBarHook')`` to ``log_config.hooks`` to get it in a terminal too. Rank 0.
"""

from __future__ import annotations

from typing import Any

from fastprogress.fastprogress import master_bar, progress_bar

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["ProgressBarHook"]


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Args:
        plot_interval: iterations between plot refreshes (notebook only).
        metric: the evaluation metric drawn next to the loss (if an EvalHook produces it).
    """

    priority = 80  # after the EvalHook (LOW), before the logger (VERY_LOW) clears metrics

    def __init__(self, plot_interval: int = 10, metric: str = "bbox_mAP", **_: Any) -> None:
        self.plot_interval = plot_interval
        self.metric = metric
        self.losses: list[tuple[int, float]] = []
        self.metrics: list[tuple[int, float]] = []
        self.master: Any = None
        self.bar: Any = None

    def before_run(self, runner: Any) -> None:
        if not is_main_process():
            return
        self.master = master_bar(range(runner.max_epochs))
        self.master.names = ["train loss", self.metric]
        self.master.update(runner.epoch)

    def before_train_epoch(self, runner: Any) -> None:
        if self.master is None:
            return
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
        self.bar.comment = f"loss {loss:.4f}"
        self.bar.update(runner.inner_iter + 1)
        if (runner.iter + 1) % self.plot_interval == 0:
            self._plot()

    def after_train_epoch(self, runner: Any) -> None:
        if self.master is None:
            return
        line = f"epoch {runner.epoch + 1}: loss {self.losses[-1][1]:.4f}" if self.losses else f"epoch {runner.epoch + 1}"
        if runner.log_buffer.ready and self.metric in runner.log_buffer.output:
            value = float(runner.log_buffer.output[self.metric])
            self.metrics.append((runner.iter, value))  # iterations done
            line += f", {self.metric} {value:.4f}"
        self.master.write(line)
        self._plot()
        self.master.update(runner.epoch + 1)

    def after_run(self, runner: Any) -> None:
        self.master = self.bar = None
