"""Engine: the runner and its hooks, optimizers and LR schedules (``optim``), distributed
helpers, ``setup_training`` -> ``train_detector``, ``setup_testing`` and the test loops
(``testing``), the inference API (``inference``) and the notebook helpers (``apis``)."""

from detkit.engine.apis import evaluate_detector, set_img_scale
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
from detkit.engine.env import collect_env, format_env
from detkit.engine.hooks import (
    CheckpointHook,
    CosineAnnealingLrUpdaterHook,
    DistSamplerSeedHook,
    EarlyStoppingHook,
    EvalHook,
    FixedLrUpdaterHook,
    Hook,
    LrUpdaterHook,
    MlflowLoggerHook,
    MMDetWandbHook,
    NumClassCheckHook,
    ProgressBarHook,
    SaveBestHook,
    StepLrUpdaterHook,
    TensorboardLoggerHook,
    TextLoggerHook,
    WandbLoggerHook,
    enable_early_stopping,
)
from detkit.engine.inference import (
    find_images,
    infer_folder,
    inference_detector,
    init_detector,
    predict_images,
)
from detkit.engine.launch import LaunchError, LaunchResult, launch
from detkit.engine.log import get_root_logger
from detkit.engine.model_inputs import scatter
from detkit.engine.optim import GradientStep, build_optimizer
from detkit.engine.priority import Priority, get_priority
from detkit.engine.rng import get_rng_state, init_random_seed, set_random_seed, set_rng_state
from detkit.engine.runner import Runner
from detkit.engine.slurm import expand_hostlist
from detkit.engine.testing import multi_gpu_test, single_gpu_test
from detkit.engine.testing_setup import TestingSetup, setup_testing, write_eval_json
from detkit.engine.train import find_latest_checkpoint, skip_overwritten_pretrained, train_detector
from detkit.engine.training_setup import TrainingSetup, setup_training

__all__ = [
    "all_gather",
    "build_optimizer",
    "CheckpointHook",
    "collect_env",
    "collect_results",
    "CosineAnnealingLrUpdaterHook",
    "DetectorDDP",
    "DistSamplerSeedHook",
    "EarlyStoppingHook",
    "EvalHook",
    "evaluate_detector",
    "expand_hostlist",
    "find_images",
    "LaunchError",
    "LaunchResult",
    "SaveBestHook",
    "enable_early_stopping",
    "find_latest_checkpoint",
    "FixedLrUpdaterHook",
    "format_env",
    "get_dist_info",
    "get_priority",
    "get_rng_state",
    "get_root_logger",
    "GradientStep",
    "Hook",
    "infer_folder",
    "inference_detector",
    "init_detector",
    "init_dist",
    "launch",
    "init_random_seed",
    "is_main_process",
    "LrUpdaterHook",
    "master_only",
    "MlflowLoggerHook",
    "MMDetWandbHook",
    "multi_gpu_test",
    "NumClassCheckHook",
    "predict_images",
    "Priority",
    "ProgressBarHook",
    "Runner",
    "scatter",
    "set_img_scale",
    "set_random_seed",
    "set_rng_state",
    "setup_testing",
    "setup_training",
    "single_gpu_test",
    "skip_overwritten_pretrained",
    "StepLrUpdaterHook",
    "TensorboardLoggerHook",
    "TestingSetup",
    "TextLoggerHook",
    "train_detector",
    "TrainingSetup",
    "WandbLoggerHook",
    "wrap_distributed",
    "write_eval_json",
]
