"""Watching a validation value once per epoch: the base of :class:`SaveBestHook` and
``EarlyStoppingHook``, and the rule (greater or less is better) of a metric's name.

Validation values reach ``runner.val_metrics`` two ways each epoch: an ``EvalHook``'s metrics
(``bbox_mAP``, ... after the training epoch it evaluates) and a ``('val', 1)`` workflow phase's
losses (``val_loss``, ``val_loss_cls``, ..., after that phase; averaged over every rank). A
:class:`MonitorHook` sees its ``monitor`` key once per training epoch, as soon as it appears.
"""

from __future__ import annotations

import math
import os
from typing import Any

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["GREATER_KEYS", "LESS_KEYS", "infer_rule", "MonitorHook", "SaveBestHook"]

# MMEngine's (and mmcv EvalHook's) defaults; matched case-insensitively, whole name first
GREATER_KEYS = ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc")
LESS_KEYS = ("loss",)


def infer_rule(key: str, rule: str | None = None) -> str:
    """``rule`` checked, or ``'greater'``/``'less'`` from ``key`` (a greater key as the whole
    name, a less key as the whole name, then either as a part of it).

    Raises:
        ValueError: a rule other than those two, or a name that says neither.
    """
    if rule is not None:
        if rule not in ("greater", "less"):
            raise ValueError(f"rule must be 'greater' or 'less', got {rule!r}")
        return rule
    name = key.lower()
    greater, less = [k.lower() for k in GREATER_KEYS], [k.lower() for k in LESS_KEYS]
    for keys, found in ((greater, "greater"), (less, "less")):
        if name in keys:
            return found
    for keys, found in ((greater, "greater"), (less, "less")):
        if any(k in name for k in keys):
            return found
    raise ValueError(f"cannot infer whether a greater or a smaller {key!r} is better: set rule")


def improved(rule: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    """``value`` beats ``best`` by more than ``min_delta`` (any finite value beats None)."""
    if best is None:
        return math.isfinite(value)
    return value > best + min_delta if rule == "greater" else value < best - min_delta


class MonitorHook(Hook):
    """Calls :meth:`check` with ``runner.val_metrics[monitor]`` once per training epoch, at the
    first ``after_train_epoch``/``after_val_epoch`` that has it (priority after ``EvalHook``,
    before the progress bar and the logger)."""

    priority = 72

    def __init__(self, monitor: str) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a metric name, got {monitor!r}")
        self.monitor = monitor
        self._seen_epoch = 0

    @staticmethod
    def epochs_done(runner: Any) -> int:
        """Training epochs completed (the counter moves at the end of a training epoch)."""
        return runner.epoch + 1 if runner.mode == "train" else runner.epoch

    def _maybe_check(self, runner: Any) -> None:
        epoch = self.epochs_done(runner)
        value = getattr(runner, "val_metrics", {}).get(self.monitor)
        if value is not None and epoch > self._seen_epoch:
            self._seen_epoch = epoch
            self.check(runner, float(value), epoch)

    def check(self, runner: Any, value: float, epoch: int) -> None:
        """React to this epoch's ``value`` of the monitored key."""
        raise NotImplementedError

    def after_train_epoch(self, runner: Any) -> None:
        self._maybe_check(runner)

    def after_val_epoch(self, runner: Any) -> None:
        self._maybe_check(runner)


@HOOKS.register_module()
class SaveBestHook(MonitorHook):
    """Keep the checkpoint of the best ``key`` value as ``best_<key>_epoch_<N>.pth`` (the
    previous best removed), and report it at the end of training (MMEngine
    ``CheckpointHook(save_best=...)``; ``checkpoint_config.save_best`` in detkit configs).

    Args:
        key: a ``runner.val_metrics`` name (``val_loss``, ``bbox_mAP``, ...).
        rule: ``'greater'``/``'less'``; default from the name (:func:`infer_rule`).
    """

    def __init__(self, key: str, rule: str | None = None) -> None:
        super().__init__(key)
        self.rule = infer_rule(key, rule)
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.best_path: str | None = None

    def check(self, runner: Any, value: float, epoch: int) -> None:
        save_best(self, runner, value, f"epoch_{epoch}", epoch)

    def after_run(self, runner: Any) -> None:
        if self.best_path is not None and is_main_process():
            runner.logger.info(
                f"best checkpoint: {self.best_path} ({self.monitor} {self.best_score:.4f} "
                f"at epoch {self.best_epoch})"
            )


def save_best(
    tracker: Any, runner: Any, value: float, progress: str, epoch: int | None = None
) -> bool:
    """If ``value`` improves on ``tracker.best_score`` (``tracker.rule``): rank 0 saves
    ``best_<monitor>_<progress>.pth`` (weights and meta, no optimizer), removes the previous
    best, logs it and records it in ``runner.best_checkpoints[monitor]``; returns whether it
    improved. ``tracker`` has ``monitor``, ``rule``, ``best_score``, ``best_path`` (and
    ``best_epoch``), updated here: the one best-checkpoint rule of ``SaveBestHook`` and
    ``EvalHook(save_best=...)``."""
    if not improved(tracker.rule, value, tracker.best_score):
        return False
    tracker.best_score, tracker.best_epoch = value, epoch
    name = f"best_{tracker.monitor}_{progress}.pth"
    path = os.path.join(runner.work_dir, name) if runner.work_dir else None
    if is_main_process() and path is not None:
        if tracker.best_path is not None and os.path.exists(tracker.best_path):
            os.remove(tracker.best_path)
        runner.save_checkpoint(runner.work_dir, name, save_optimizer=False, create_symlink=False)
        runner.logger.info(f"best {tracker.monitor} {value:.4f}: saved {name}")
    tracker.best_path = path
    runner.best_checkpoints[tracker.monitor] = dict(path=path, score=value, epoch=epoch)
    return True
