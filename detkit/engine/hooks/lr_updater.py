"""Learning-rate schedules as hooks, exactly as mmcv's ``LrUpdaterHook`` family (section 10 of
the MMDetection v2 reference).

Built from ``lr_config = dict(policy='step', step=[8], warmup='linear', warmup_iters=500,
warmup_ratio=0.001)``: ``policy`` names the hook (``'step'`` -> ``StepLrUpdaterHook``).

* The regular LR is set at the start of each epoch (``by_epoch=True``) or iteration, from each
  param group's ``initial_lr``.
* Warmup (``'constant'``, ``'linear'``, ``'exp'``) runs over the global iteration counter ``i``
  (0-based) for ``i < warmup_iters``: linear ``regular * (1 - (1 - i / warmup_iters) *
  (1 - warmup_ratio))``, constant ``regular * warmup_ratio``, exp ``regular * warmup_ratio **
  (1 - i / warmup_iters)``; at ``i == warmup_iters`` the regular LR is restored.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any

from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["lr_hook_config", "LrUpdaterHook", "FixedLrUpdaterHook", "StepLrUpdaterHook", "CosineAnnealingLrUpdaterHook"]

_WARMUP_TYPES = ("constant", "linear", "exp")


class LrUpdaterHook(Hook, metaclass=ABCMeta):
    """Base of the LR schedules; subclasses implement ``get_lr(runner, base_lr)``."""

    priority = "VERY_HIGH"

    def __init__(
        self,
        by_epoch: bool = True,
        warmup: str | None = None,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
        warmup_by_epoch: bool = False,
    ) -> None:
        if warmup is not None:
            if warmup not in _WARMUP_TYPES:
                raise ValueError(f"lr_config.warmup must be one of {_WARMUP_TYPES} or None, got {warmup!r}")
            if warmup_iters <= 0:
                raise ValueError(f"lr_config.warmup_iters must be positive, got {warmup_iters}")
            if not 0 < warmup_ratio <= 1.0:
                raise ValueError(f"lr_config.warmup_ratio must be in (0, 1], got {warmup_ratio}")
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs = warmup_iters if warmup_by_epoch else None
        self.warmup_iters: int | None = None if warmup_by_epoch else warmup_iters
        self.base_lr: list[float] = []
        self.regular_lr: list[float] = []

    @abstractmethod
    def get_lr(self, runner: Any, base_lr: float) -> float:
        """The regular (post-warmup) LR for a param group whose initial LR is ``base_lr``."""

    def get_regular_lr(self, runner: Any) -> list[float]:
        return [self.get_lr(runner, base_lr) for base_lr in self.base_lr]

    def get_warmup_lr(self, cur_iter: int) -> list[float]:
        progress = cur_iter / self.warmup_iters
        if self.warmup == "constant":
            factor = self.warmup_ratio
        elif self.warmup == "linear":
            factor = 1 - (1 - progress) * (1 - self.warmup_ratio)
        else:
            factor = self.warmup_ratio ** (1 - progress)
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
    """Constant LR (after the optional warmup)."""

    def get_lr(self, runner: Any, base_lr: float) -> float:
        return base_lr


@HOOKS.register_module()
class StepLrUpdaterHook(LrUpdaterHook):
    """``base_lr * gamma ** k``, k = number of milestones ``<= progress`` (epoch or iteration);
    an int ``step`` decays every ``step`` epochs/iterations; never below ``min_lr``."""

    def __init__(self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs: Any) -> None:
        if isinstance(step, list):
            if not all(isinstance(s, int) and s > 0 for s in step):
                raise ValueError(f"lr_config.step must be positive ints, got {step}")
        elif not (isinstance(step, int) and step > 0):
            raise TypeError(f"lr_config.step must be a positive int or a list of ints, got {step!r}")
        self.step = step
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        progress = runner.epoch if self.by_epoch else runner.iter
        if isinstance(self.step, int):
            exponent = progress // self.step
        else:
            exponent = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
        lr = base_lr * self.gamma**exponent
        return max(lr, self.min_lr) if self.min_lr is not None else lr


@HOOKS.register_module()
class CosineAnnealingLrUpdaterHook(LrUpdaterHook):
    """Cosine from ``base_lr`` to ``min_lr`` (or ``base_lr * min_lr_ratio``) over the run."""

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs: Any) -> None:
        if (min_lr is None) == (min_lr_ratio is None):
            raise ValueError("lr_config for CosineAnnealing needs exactly one of min_lr and min_lr_ratio")
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        if self.by_epoch:
            progress, max_progress = runner.epoch, runner.max_epochs
        else:
            progress, max_progress = runner.iter, runner.max_iters
        target = self.min_lr if self.min_lr is not None else base_lr * self.min_lr_ratio
        return target + (base_lr - target) * (math.cos(math.pi * progress / max_progress) + 1) / 2


def lr_hook_config(lr_config: dict[str, Any]) -> dict[str, Any]:
    """mmcv's naming: ``policy='step'`` -> ``type='StepLrUpdaterHook'`` (a lower-case policy is
    title-cased; ``'cosine'``/``'cosineannealing'`` -> ``CosineAnnealing``)."""
    options = dict(lr_config)
    if "type" in options:
        return options
    if "policy" not in options:
        raise KeyError(f"lr_config needs a 'policy' key (e.g. 'step'), got {sorted(options)}")
    policy = options.pop("policy")
    if policy.lower() in ("cosine", "cosineannealing"):
        policy = "CosineAnnealing"
    elif policy == policy.lower():
        policy = policy.title()
    options["type"] = policy + "LrUpdaterHook"
    return options
