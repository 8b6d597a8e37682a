"""Training engine: the runner and its hooks, optimizers and LR schedules (``optim``),
distributed helpers, ``setup_training`` -> ``train_detector``; the test loops and the inference
API live in ``testing``/``inference``."""

from detkit.engine.dist import (
    DetectorDDP,
    all_gather,
    collect_results,
    get_dist_info,
    init_dist,
    is_main_process,
    master_only,
    wrap_distributed,
)
from detkit.engine.hooks import (
    CheckpointHook,
    CosineAnnealingLrUpdaterHook,
    DistSamplerSeedHook,
    EarlyStoppingHook,
    EvalHook,
    FixedLrUpdaterHook,
    Hook,
    LrUpdaterHook,
    NumClassCheckHook,
    ProgressBarHook,
    SaveBestHook,
    StepLrUpdaterHook,
    TextLoggerHook,
    enable_early_stopping,
)
from detkit.engine.launch import LaunchError, LaunchResult, launch
from detkit.engine.log import get_root_logger
from detkit.engine.optim import GradientStep, build_optimizer
from detkit.engine.priority import Priority, get_priority
from detkit.engine.rng import get_rng_state, init_random_seed, set_random_seed, set_rng_state
from detkit.engine.runner import Runner
from detkit.engine.train import find_latest_checkpoint, train_detector
from detkit.engine.training_setup import TrainingSetup, setup_training

__all__ = [
    "CheckpointHook",
    "CosineAnnealingLrUpdaterHook",
    "DetectorDDP",
    "DistSamplerSeedHook",
    "EarlyStoppingHook",
    "EvalHook",
    "FixedLrUpdaterHook",
    "GradientStep",
    "Hook",
    "LaunchError",
    "LaunchResult",
    "LrUpdaterHook",
    "NumClassCheckHook",
    "Priority",
    "ProgressBarHook",
    "Runner",
    "SaveBestHook",
    "TrainingSetup",
    "StepLrUpdaterHook",
    "TextLoggerHook",
    "all_gather",
    "build_optimizer",
    "collect_results",
    "enable_early_stopping",
    "find_latest_checkpoint",
    "get_dist_info",
    "get_priority",
    "get_rng_state",
    "get_root_logger",
    "init_dist",
    "launch",
    "init_random_seed",
    "is_main_process",
    "master_only",
    "set_random_seed",
    "set_rng_state",
    "setup_training",
    "train_detector",
    "wrap_distributed",
]
