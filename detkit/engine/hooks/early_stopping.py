"""Stop training when a validation value stops improving (MMEngine ``EarlyStoppingHook``: the
same arguments and rule; detkit's own code).

    custom_hooks = [dict(type='EarlyStoppingHook', monitor='val_loss', patience=3)]
    python tools/train.py CONFIG --early-stopping monitor=val_loss patience=3
    papermill nbs/04_train_and_evaluate.ipynb out.ipynb -p early_stopping "{'patience': 3}"

The monitored value is read from ``runner.val_metrics`` once per epoch (see
:class:`~detkit.engine.hooks.monitor.MonitorHook`): an evaluation metric (``bbox_mAP``) or a
``('val', 1)`` phase's loss (``val_loss``). When training stops, the reason is logged and kept
in ``runner.stop_reason``; the epoch ends as usual (its checkpoint is written), and the run
ends before the next. With several processes rank 0 decides and every rank follows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch.distributed as dist

from detkit.engine.dist import get_dist_info
from detkit.engine.hooks.monitor import MonitorHook, improved, infer_rule
from detkit.registry import HOOKS

__all__ = ["EarlyStoppingHook", "enable_early_stopping"]


@HOOKS.register_module()
class EarlyStoppingHook(MonitorHook):
    """Args (MMEngine's names and defaults):
    monitor: the ``runner.val_metrics`` key watched (``val_loss``, ``bbox_mAP``, ...).
    rule: ``'greater'`` or ``'less'`` is better; default from the name.
    min_delta: an improvement smaller than this counts as none.
    strict: raise if an epoch's validation values lack ``monitor`` (else warn once).
    check_finite: stop when the value becomes NaN or infinite.
    patience: evaluations without improvement after which training stops.
    stopping_threshold: stop at once when the value is better than this.
    """

    def __init__(
        self,
        monitor: str,
        rule: str | None = None,
        min_delta: float = 0.1,
        strict: bool = False,
        check_finite: bool = True,
        patience: int = 5,
        stopping_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor)
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStoppingHook patience must be a positive int, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStoppingHook min_delta must be >= 0, got {min_delta}")
        self.rule = infer_rule(monitor, rule)
        self.min_delta = float(min_delta)
        self.strict = strict
        self.check_finite = check_finite
        self.patience = patience
        self.stopping_threshold = stopping_threshold
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.wait_count = 0
        self._warned = False

    def decide(self, value: float, epoch: int) -> str | None:
        """Take this epoch's value; the reason to stop, or None to go on."""
        if self.check_finite and not math.isfinite(value):
            return (
                f"{self.monitor} = {value} is not finite (best {self.best_score} at epoch "
                f"{self.best_epoch})"
            )
        threshold = self.stopping_threshold
        if threshold is not None and improved(self.rule, value, threshold):
            self.best_score, self.best_epoch = value, epoch
            better = "above" if self.rule == "greater" else "below"
            return (
                f"{self.monitor} = {value:.4f} reached the stopping threshold "
                f"({better} {threshold})"
            )
        if improved(self.rule, value, self.best_score, self.min_delta):
            self.best_score, self.best_epoch, self.wait_count = value, epoch, 0
            return None
        self.wait_count += 1
        if self.wait_count < self.patience:
            return None
        return (
            f"{self.monitor} did not improve by more than {self.min_delta:g} in "
            f"{self.wait_count} evaluations (best {self.best_score:.4f} at epoch "
            f"{self.best_epoch}, now {value:.4f})"
        )

    def check(self, runner: Any, value: float, epoch: int) -> None:
        reason = self.decide(value, epoch)
        if reason is not None:
            runner.request_stop(f"early stopping after epoch {epoch}: {reason}")

    def _end_of_cycle(self, runner: Any) -> bool:
        phases = [mode for mode, _ in getattr(runner, "workflow", [("train", 1)])]
        return runner.mode == "val" or "val" not in phases

    def _maybe_check(self, runner: Any) -> None:
        rank, world_size = get_dist_info()
        if rank == 0:
            super()._maybe_check(runner)
            metrics = getattr(runner, "val_metrics", {})
            if metrics and self.monitor not in metrics and self._end_of_cycle(runner):
                self._missing(sorted(metrics))
        if world_size > 1:  # every rank follows rank 0's decision
            decision = [runner.stop_reason if runner.stop_training else None]
            dist.broadcast_object_list(decision, src=0)
            if decision[0] is not None and not runner.stop_training:
                runner.request_stop(decision[0])

    def _missing(self, available: list[str]) -> None:
        message = (
            f"EarlyStoppingHook: monitor {self.monitor!r} is not among this epoch's "
            f"validation values {available}"
        )
        if self.strict:
            raise KeyError(message + " (strict=True)")
        if not self._warned:
            warnings.warn(message + "; not stopping on it", UserWarning, stacklevel=2)
            self._warned = True


def enable_early_stopping(cfg: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Add an ``EarlyStoppingHook`` with ``options`` (its arguments; ``monitor`` defaults to
    ``val_loss``) to ``cfg.custom_hooks``, keep the best checkpoint of the same value
    (``checkpoint_config.save_best``, unless set) and, for a ``val_*`` loss, add the
    ``('val', 1)`` workflow phase that computes it. The one set-up behind
    ``tools/train.py --early-stopping`` and nb04's ``early_stopping`` parameter.

    Returns:
        The hook's config as added.
    """
    hook = {"type": "EarlyStoppingHook", "monitor": "val_loss", **dict(options)}
    EarlyStoppingHook(**{k: v for k, v in hook.items() if k != "type"})  # bad options fail here
    cfg.custom_hooks = [*(cfg.get("custom_hooks") or []), hook]
    checkpoint = dict(cfg.get("checkpoint_config") or {})
    checkpoint.setdefault("save_best", hook["monitor"])
    cfg.checkpoint_config = checkpoint
    workflow = [tuple(phase) for phase in (cfg.get("workflow") or [("train", 1)])]
    if hook["monitor"].startswith("val_") and all(mode != "val" for mode, _ in workflow):
        cfg.workflow = [*workflow, ("val", 1)]
    return hook
