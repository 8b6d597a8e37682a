"""Learning-rate schedules, exactly as mmcv's ``LrUpdaterHook`` family computes them (section 10
of the MMDetection v2 reference); the hooks in ``engine/hooks/lr_updater.py`` apply them.

Configs name a schedule by ``lr_config.policy`` (see :func:`lr_hook_config`):

* ``'fixed'``: the initial LR.
* ``'step'``: ``base_lr * gamma ** k``, k = number of milestones ``<= progress``; an int
  ``step`` decays every ``step`` epochs/iterations; never below ``min_lr``.
* ``'CosineAnnealing'``: cosine from ``base_lr`` to ``min_lr`` (or ``base_lr * min_lr_ratio``)
  over the run.

Warmup (``'constant'``, ``'linear'``, ``'exp'``) scales the regular LR over the global
iteration counter ``i`` (0-based) for ``i < warmup_iters``: linear ``1 - (1 - i / warmup_iters)
* (1 - warmup_ratio)``, constant ``warmup_ratio``, exp ``warmup_ratio ** (1 - i /
warmup_iters)``.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any

__all__ = [
    "LrSchedule",
    "FixedLr",
    "StepLr",
    "CosineAnnealingLr",
    "Warmup",
    "WARMUP_TYPES",
    "lr_hook_config",
]

WARMUP_TYPES = ("constant", "linear", "exp")


class LrSchedule(metaclass=ABCMeta):
    """A regular (post-warmup) LR as a function of the progress through the run."""

    @abstractmethod
    def __call__(self, base_lr: float, progress: int, max_progress: int | None) -> float:
        """The LR of a param group whose initial LR is ``base_lr`` at epoch/iteration
        ``progress`` (0-based) of ``max_progress``."""


class FixedLr(LrSchedule):
    """The initial LR throughout."""

    def __call__(self, base_lr: float, progress: int, max_progress: int | None) -> float:
        return base_lr


class StepLr(LrSchedule):
    """``base_lr * gamma ** k`` with k the milestones passed (or ``progress // step`` for an
    int ``step``), never below ``min_lr``."""

    def __init__(
        self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None
    ) -> None:
        if isinstance(step, list):
            if not all(isinstance(s, int) and s > 0 for s in step):
                raise ValueError(f"lr_config.step must be positive ints, got {step}")
        elif not (isinstance(step, int) and step > 0):
            raise TypeError(
                f"lr_config.step must be a positive int or a list of ints, got {step!r}"
            )
        self.step = step
        self.gamma = gamma
        self.min_lr = min_lr

    def __call__(self, base_lr: float, progress: int, max_progress: int | None) -> float:
        if isinstance(self.step, int):
            exponent = progress // self.step
        else:
            exponent = next((i for i, s in enumerate(self.step) if progress < s), len(self.step))
        lr = base_lr * self.gamma**exponent
        return max(lr, self.min_lr) if self.min_lr is not None else lr


class CosineAnnealingLr(LrSchedule):
    """Cosine from ``base_lr`` at progress 0 to the target at ``max_progress``."""

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None) -> None:
        if (min_lr is None) == (min_lr_ratio is None):
            raise ValueError(
                "lr_config for CosineAnnealing needs exactly one of min_lr and min_lr_ratio"
            )
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio

    def __call__(self, base_lr: float, progress: int, max_progress: int | None) -> float:
        if not max_progress:
            raise ValueError(
                "CosineAnnealing needs the run's length (runner max_epochs / max_iters)"
            )
        if self.min_lr is not None:
            target = self.min_lr
        else:
            assert self.min_lr_ratio is not None  # __init__ sets exactly one of them
            target = base_lr * self.min_lr_ratio
        return target + (base_lr - target) * (math.cos(math.pi * progress / max_progress) + 1) / 2


class Warmup:
    """LR warmup of ``kind`` (one of :data:`WARMUP_TYPES`) over ``iters`` iterations starting
    at ``ratio`` times the regular LR."""

    def __init__(self, kind: str, iters: int, ratio: float) -> None:
        if kind not in WARMUP_TYPES:
            raise ValueError(
                f"lr_config.warmup must be one of {WARMUP_TYPES} or None, got {kind!r}"
            )
        if iters <= 0:
            raise ValueError(f"lr_config.warmup_iters must be positive, got {iters}")
        if not 0 < ratio <= 1.0:
            raise ValueError(f"lr_config.warmup_ratio must be in (0, 1], got {ratio}")
        self.kind = kind
        self.iters = iters
        self.ratio = ratio

    def factor(self, cur_iter: int, warmup_iters: int) -> float:
        """Multiplier of the regular LR at global iteration ``cur_iter`` (< ``warmup_iters``,
        the warmup length in iterations)."""
        progress = cur_iter / warmup_iters
        if self.kind == "constant":
            return self.ratio
        if self.kind == "linear":
            return 1 - (1 - progress) * (1 - self.ratio)
        return self.ratio ** (1 - progress)


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
