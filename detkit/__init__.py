"""detkit: MMDetection-v2-compatible instance segmentation (Cascade Mask R-CNN, AugFPN,
AutoAugment) on current PyTorch, driven from notebooks.

The core below is what a user's script needs (MMDetection v2's ``mmdet.apis`` names, the
builders, checkpoints, export); every other public name lives in a namespace:
``detkit.config``, ``detkit.data``, ``detkit.models``, ``detkit.structures``,
``detkit.evaluation``, ``detkit.engine``, ``detkit.viz``, ``detkit.analysis``,
``detkit.experiments``, ``detkit.deploy``, ``detkit.checkpoint``, ``detkit.ops``, ``detkit.io``,
``detkit.registry``, ``detkit.cli``.

Names and namespaces are imported on first use, so ``import detkit`` stays cheap and
``from detkit.registry import NECKS`` does not pull in the models. The ``TYPE_CHECKING`` block
mirrors the table for editors and type checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# core name -> module that defines it
_CORE: dict[str, str] = {
    # configs
    "Config": "detkit.config",
    "DictAction": "detkit.config",
    # data
    "build_dataset": "detkit.data",
    "build_dataloader": "detkit.data",
    "convert_cityscapes": "detkit.data",
    "generate_cityscapes_sample": "detkit.data",
    # models and their output
    "build_detector": "detkit.models",
    "DetectionResult": "detkit.structures",
    # inference (mmdet.apis)
    "init_detector": "detkit.engine.inference",
    "inference_detector": "detkit.engine.inference",
    "find_images": "detkit.engine.inference",
    "infer_folder": "detkit.engine.inference",
    "show_result": "detkit.viz",
    # training and testing (mmdet.apis)
    "setup_training": "detkit.engine.training_setup",
    "train_detector": "detkit.engine.train",
    "setup_testing": "detkit.engine.testing_setup",
    "single_gpu_test": "detkit.engine.testing",
    "multi_gpu_test": "detkit.engine.testing",
    "evaluate_detector": "detkit.engine.apis",
    "set_img_scale": "detkit.engine.apis",
    "set_random_seed": "detkit.engine.rng",
    "init_dist": "detkit.engine.dist",
    "get_dist_info": "detkit.engine.dist",
    "launch": "detkit.engine.launch",
    "get_root_logger": "detkit.engine.log",
    # checkpoints and export
    "load_checkpoint": "detkit.checkpoint",
    "save_checkpoint": "detkit.checkpoint",
    "export": "detkit.deploy.exporter",
    # the machine
    "probe_cpu": "detkit.ops.cpu",
    "thread_settings": "detkit.ops.threads",
}

# the namespaces holding every other public name
_NAMESPACES: tuple[str, ...] = (
    "analysis",
    "checkpoint",
    "cli",
    "config",
    "data",
    "deploy",
    "engine",
    "evaluation",
    "experiments",
    "io",
    "models",
    "ops",
    "registry",
    "structures",
    "viz",
)

__all__ = sorted(_CORE) + sorted(_NAMESPACES) + ["__version__"]

if TYPE_CHECKING:
    from detkit import (
        analysis,
        checkpoint,
        cli,
        config,
        data,
        deploy,
        engine,
        evaluation,
        experiments,
        io,
        models,
        ops,
        registry,
        structures,
        viz,
    )
    from detkit.checkpoint import load_checkpoint, save_checkpoint
    from detkit.config import Config, DictAction
    from detkit.data import (
        build_dataloader,
        build_dataset,
        convert_cityscapes,
        generate_cityscapes_sample,
    )
    from detkit.deploy.exporter import export
    from detkit.engine.apis import evaluate_detector, set_img_scale
    from detkit.engine.dist import get_dist_info, init_dist
    from detkit.engine.inference import (
        find_images,
        infer_folder,
        inference_detector,
        init_detector,
    )
    from detkit.engine.launch import launch
    from detkit.engine.log import get_root_logger
    from detkit.engine.rng import set_random_seed
    from detkit.engine.testing import multi_gpu_test, single_gpu_test
    from detkit.engine.testing_setup import setup_testing
    from detkit.engine.train import train_detector
    from detkit.engine.training_setup import setup_training
    from detkit.models import build_detector
    from detkit.ops.cpu import probe_cpu
    from detkit.ops.threads import thread_settings
    from detkit.structures import DetectionResult
    from detkit.viz import show_result


def _namespace_of(name: str) -> str | None:
    """The namespace whose ``__all__`` lists ``name`` (for the error of a name that is not in
    the core); imports the namespaces, so only asked on that error path."""
    for namespace in _NAMESPACES:
        module = importlib.import_module(f"detkit.{namespace}")
        if name in getattr(module, "__all__", ()):
            return namespace
    return None


def __getattr__(name: str) -> Any:
    if name in _NAMESPACES:
        value: Any = importlib.import_module(f"detkit.{name}")
    elif name in _CORE:
        value = getattr(importlib.import_module(_CORE[name]), name)
    else:
        namespace = None if name.startswith("_") else _namespace_of(name)
        hint = f"; it is detkit.{namespace}.{name}" if namespace else ""
        raise AttributeError(f"module 'detkit' has no attribute {name!r}{hint}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CORE) | set(_NAMESPACES))
