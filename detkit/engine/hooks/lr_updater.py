"""LR updater hooks (mmcv's ``LrUpdaterHook`` family): they apply the schedules of
``engine/optim/lr_schedules.py`` to the runner's optimizer.

Built from ``lr_config = dict(policy='step', step=[8], warmup='linear', warmup_iters=500,
warmup_ratio=0.001)``: ``policy`` names the hook (``'step'`` -> ``StepLrUpdaterHook``, see
:func:`~detkit.engine.optim.lr_schedules.lr_hook_config`).

* The regular LR is set at the start of each epoch (``by_epoch=True``) or iteration, from each
  param group's ``initial_lr``.
* During warmup (global iteration ``i < warmup_iters``) the regular LR is scaled by the warmup
  factor; at ``i == warmup_iters`` the regular LR is restored.
"""

from __future__ import annotations

from typing import Any

from detkit.engine.hooks.base import Hook
from detkit.engine.optim.lr_schedules import CosineAnnealingLr, FixedLr, LrSchedule, StepLr, Warmup
from detkit.registry import HOOKS

__all__ = [
    "LrUpdaterHook",
    "FixedLrUpdaterHook",
    "StepLrUpdaterHook",
    "CosineAnnealingLrUpdaterHook",
]


class LrUpdaterHook(Hook):
    """Sets the LR of every param group from ``schedule`` (and the optional warmup).

    Args:
        by_epoch: update per epoch (else per iteration).
        warmup: ``'constant'``, ``'linear'``, ``'exp'`` or None.
        warmup_iters: warmup length in iterations (epochs with ``warmup_by_epoch``).
        warmup_ratio: the LR multiplier warmup starts from.
        schedule: the regular LR as a function of the epoch (``by_epoch``) or iteration; a
            subclass without one overrides :meth:`get_lr` (mmcv's extension point).
    """

    priority = "VERY_HIGH"

    def __init__(
        self,
        by_epoch: bool = True,
        warmup: str | None = None,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
        warmup_by_epoch: bool = False,
        *,
        schedule: LrSchedule | None = None,
    ) -> None:
        self.schedule = schedule
        self.by_epoch = by_epoch
        self.warmup = Warmup(warmup, warmup_iters, warmup_ratio) if warmup is not None else None
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs = warmup_iters if warmup_by_epoch else None
        self.warmup_iters: int | None = None if warmup_by_epoch else warmup_iters
        self.base_lr: list[float] = []
        self.regular_lr: list[float] = []

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """The regular (post-warmup) LR for a param group whose initial LR is ``base_lr``."""
        if self.schedule is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no schedule: pass one or override get_lr"
            )
        if self.by_epoch:
            return self.schedule(base_lr, runner.epoch, runner.max_epochs)
        return self.schedule(base_lr, runner.iter, runner.max_iters)

    def get_regular_lr(self, runner: Any) -> list[float]:
        return [self.get_lr(runner, base_lr) for base_lr in self.base_lr]

    def get_warmup_lr(self, cur_iter: int) -> list[float]:
        if self.warmup is None or self.warmup_iters is None:
            return list(self.regular_lr)
        factor = self.warmup.factor(cur_iter, self.warmup_iters)
        return [lr * factor for lr in self.regular_lr]

    @staticmethod
    def _set_lr(runner: Any, lrs: list[float]) -> None:
        for group, lr in zip(runner.optimizer.param_groups, lrs):
            group["lr"] = lr

    def before_run(self, runner: Any) -> None:
        for group in runner.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lr = [group["initial_lr"] for group in runner.optimizer.param_groups]

    def before_train_epoch(self, runner: Any) -> None:
        if self.warmup_epochs is not None and self.warmup_iters is None:
            self.warmup_iters = self.warmup_epochs * len(runner.data_loader)
        if not self.by_epoch:
            return
        self.regular_lr = self.get_regular_lr(runner)
        self._set_lr(runner, self.regular_lr)

    def before_train_iter(self, runner: Any) -> None:
        cur_iter = runner.iter
        if not self.by_epoch:
            self.regular_lr = self.get_regular_lr(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))
        elif self.warmup is not None and cur_iter <= self.warmup_iters:
            if cur_iter == self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))


@HOOKS.register_module()
class FixedLrUpdaterHook(LrUpdaterHook):
    """Constant LR (after the optional warmup): ``lr_config.policy='fixed'``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(schedule=FixedLr(), **kwargs)


@HOOKS.register_module()
class StepLrUpdaterHook(LrUpdaterHook):
    """Step decay (:class:`~detkit.engine.optim.lr_schedules.StepLr`): ``policy='step'``."""

    def __init__(
        self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(schedule=StepLr(step, gamma, min_lr), **kwargs)


@HOOKS.register_module()
class CosineAnnealingLrUpdaterHook(LrUpdaterHook):
    """Cosine annealing (:class:`~detkit.engine.optim.lr_schedules.CosineAnnealingLr`):
    ``policy='CosineAnnealing'``."""

    def __init__(
        self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(schedule=CosineAnnealingLr(min_lr, min_lr_ratio), **kwargs)
