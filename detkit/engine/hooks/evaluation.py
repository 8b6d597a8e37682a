"""Evaluate during training (mmdet ``EvalHook``/``DistEvalHook``), generic over how testing and
scoring are done: the caller passes ``test_fn(model, data_loader) -> results`` (e.g.
``single_gpu_test`` / ``multi_gpu_test``, which return the results on rank 0) and
``evaluate_fn(results, logger=..., **eval_kwargs) -> dict`` (e.g. ``dataset.evaluate``).

Metrics go to the runner's log buffer, so the logger writes a ``mode: 'val'`` JSON line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from detkit.engine.dist import get_dist_info, is_main_process
from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.monitor import infer_rule, save_best

__all__ = ["EvalHook"]


class EvalHook(Hook):
    """Args:
    dataloader: the validation loader (test mode, shuffle off).
    test_fn: runs the model over the loader; returns the results (None on ranks > 0).
    evaluate_fn: scores the results; returns ``{metric name: value}``.
    interval: evaluate every ``interval`` epochs (or iterations with ``by_epoch=False``).
    start: first epoch to evaluate at (then every ``interval``); None: just the interval.
    save_best: a metric name (or ``'auto'``: the first returned) whose best value is kept
        as ``best_<metric>_epoch_<N>.pth``; None disables it.
    rule: ``'greater'`` or ``'less'`` (default from the name, as mmcv:
        :func:`~detkit.engine.hooks.monitor.infer_rule`).
    broadcast_bn_buffer: in distributed runs, copy rank 0's BatchNorm running statistics
        to every rank before testing, so all ranks test the same model (mmcv DistEvalHook).
    **eval_kwargs: passed to ``evaluate_fn`` (e.g. ``metric=['bbox', 'segm']``).
    """

    priority = "LOW"

    def __init__(
        self,
        dataloader: Any,
        test_fn: Callable[..., Any],
        evaluate_fn: Callable[..., dict[str, Any]],
        interval: int = 1,
        by_epoch: bool = True,
        start: int | None = None,
        save_best: str | None = None,
        rule: str | None = None,
        broadcast_bn_buffer: bool = True,
        **eval_kwargs: Any,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"evaluation.interval must be positive, got {interval}")
        if rule not in (None, "greater", "less"):
            raise ValueError(f"evaluation.rule must be 'greater', 'less' or None, got {rule!r}")
        self.dataloader = dataloader
        self.test_fn = test_fn
        self.evaluate_fn = evaluate_fn
        self.interval = interval
        self.by_epoch = by_epoch
        self.start = start
        self.save_best = save_best
        self.rule = rule
        self.broadcast_bn_buffer = broadcast_bn_buffer
        self.eval_kwargs = eval_kwargs
        self.monitor: str | None = None
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.best_path: str | None = None
        self.last_metrics: dict[str, Any] = {}
        self.last_results: list[Any] | None = None  # of the latest evaluation (rank 0)

    def _due(self, progress: int) -> bool:
        if self.start is None:
            return progress % self.interval == 0
        return progress >= self.start and (progress - self.start) % self.interval == 0

    def after_train_epoch(self, runner: Any) -> None:
        if self.by_epoch and self._due(runner.epoch + 1):
            self.evaluate(runner)

    def after_train_iter(self, runner: Any) -> None:
        if not self.by_epoch and self._due(runner.iter + 1):
            runner.log_buffer.clear()
            self.evaluate(runner)

    def evaluate(self, runner: Any) -> dict[str, Any]:
        """Run ``test_fn`` and (on rank 0) ``evaluate_fn``; returns the metrics ({} on ranks >
        0)."""
        if self.broadcast_bn_buffer and get_dist_info()[1] > 1:
            for module in runner.model.modules():
                if (
                    isinstance(module, nn.modules.batchnorm._BatchNorm)
                    and module.running_var is not None
                    and module.running_mean is not None
                ):
                    torch.distributed.broadcast(module.running_var, 0)
                    torch.distributed.broadcast(module.running_mean, 0)
        results = self.test_fn(runner.model, self.dataloader)
        if not is_main_process():
            return {}
        metrics = dict(self.evaluate_fn(results, logger=runner.logger, **self.eval_kwargs))
        self.last_metrics = metrics
        self.last_results = results
        runner.log_buffer.output["eval_iter_num"] = len(
            self.dataloader
        )  # mmcv: the val line's iter
        for name, value in metrics.items():
            runner.log_buffer.output[name] = value
        runner.log_buffer.ready = True
        runner.val_metrics.update(
            {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        )
        if self.save_best is not None and metrics:
            self._save_best(runner, metrics)
        return metrics

    def _save_best(self, runner: Any, metrics: dict[str, Any]) -> None:
        key = next(iter(metrics)) if self.save_best == "auto" else self.save_best
        if key not in metrics:
            raise KeyError(
                f"evaluation.save_best={key!r} is not among the metrics {sorted(metrics)}"
            )
        self.monitor = key
        self.rule = infer_rule(key, self.rule)
        progress = runner.epoch + 1 if self.by_epoch else runner.iter + 1
        unit = "epoch" if self.by_epoch else "iter"
        save_best(self, runner, float(metrics[key]), f"{unit}_{progress}", runner.epoch + 1)
