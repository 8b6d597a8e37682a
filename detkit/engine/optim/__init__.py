"""Optimizers (registered in ``OPTIMIZERS``), the gradient step and the LR schedules."""

from detkit.engine.optim.builder import build_optimizer
from detkit.engine.optim.lr_schedules import (
    CosineAnnealingLr,
    FixedLr,
    LrSchedule,
    StepLr,
    Warmup,
    lr_hook_config,
)
from detkit.engine.optim.step import GradientStep

__all__ = [
    "CosineAnnealingLr",
    "FixedLr",
    "GradientStep",
    "LrSchedule",
    "StepLr",
    "Warmup",
    "build_optimizer",
    "lr_hook_config",
]
