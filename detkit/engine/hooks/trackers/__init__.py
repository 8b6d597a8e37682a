"""Experiment-tracker logger hooks (mmcv/mmdet names): TensorBoard, MLflow, Weights & Biases.
MLflow and W&B are optional extras, imported when a hook is built."""

from detkit.engine.hooks.trackers.base import TrackerHook
from detkit.engine.hooks.trackers.mlflow import MlflowLoggerHook
from detkit.engine.hooks.trackers.tensorboard import TensorboardLoggerHook
from detkit.engine.hooks.trackers.wandb import MMDetWandbHook, WandbLoggerHook

__all__ = [
    "MMDetWandbHook",
    "MlflowLoggerHook",
    "TensorboardLoggerHook",
    "TrackerHook",
    "WandbLoggerHook",
]
