"""Runner hooks. Registered in ``HOOKS`` (config ``type`` names as in mmcv/mmdet)."""

from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.checkpoint import CheckpointHook
from detkit.engine.hooks.early_stopping import EarlyStoppingHook, enable_early_stopping
from detkit.engine.hooks.evaluation import EvalHook
from detkit.engine.hooks.logger import LogBuffer, TextLoggerHook
from detkit.engine.hooks.lr_updater import (
    CosineAnnealingLrUpdaterHook,
    FixedLrUpdaterHook,
    LrUpdaterHook,
    StepLrUpdaterHook,
)
from detkit.engine.hooks.monitor import MonitorHook, SaveBestHook
from detkit.engine.hooks.num_class_check import NumClassCheckHook
from detkit.engine.hooks.progress import ProgressBarHook
from detkit.engine.hooks.sampler_seed import DistSamplerSeedHook
from detkit.engine.hooks.trackers import (
    MlflowLoggerHook,
    MMDetWandbHook,
    TensorboardLoggerHook,
    TrackerHook,
    WandbLoggerHook,
)
from detkit.engine.hooks.yolox_mode_switch import YOLOXModeSwitchHook

__all__ = [
    "CheckpointHook",
    "CosineAnnealingLrUpdaterHook",
    "DistSamplerSeedHook",
    "EarlyStoppingHook",
    "EvalHook",
    "FixedLrUpdaterHook",
    "Hook",
    "LogBuffer",
    "LrUpdaterHook",
    "MMDetWandbHook",
    "MlflowLoggerHook",
    "MonitorHook",
    "NumClassCheckHook",
    "ProgressBarHook",
    "SaveBestHook",
    "StepLrUpdaterHook",
    "TensorboardLoggerHook",
    "TextLoggerHook",
    "YOLOXModeSwitchHook",
    "TrackerHook",
    "WandbLoggerHook",
    "enable_early_stopping",
]
