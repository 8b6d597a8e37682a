"""Optimizers (registered in ``OPTIMIZERS``) and the gradient step."""

from detkit.engine.optim.builder import build_optimizer
from detkit.engine.optim.step import GradientStep

__all__ = ["GradientStep", "build_optimizer"]
