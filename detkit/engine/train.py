"""``train_detector``: build the loaders, optimizer, hooks and runner from an MMDetection-v2
config and train (mmdet ``apis/train.py``).

Config keys read: ``data`` (``samples_per_gpu``, ``workers_per_gpu``, optional
``train_dataloader``/``val_dataloader`` overrides, ``val``), ``optimizer``, ``optimizer_config``,
``fp16``, ``lr_config``, ``runner`` (or legacy ``total_epochs``), ``checkpoint_config`` (its
``save_best``/``rule``: keep the best checkpoint of a validation value, MMEngine's keys),
``log_config``, ``custom_hooks``, ``evaluation``, ``workflow``, ``load_from``, ``resume_from``,
``auto_resume``, ``auto_scale_lr``, ``find_unused_parameters``, ``sync_bn``, ``seed``,
``device``, ``work_dir``, ``log_level``, ``device_augment``.

``device_augment = True`` (or ``dict(enable=True)``): the train loaders stop after
loading/decoding and the train pipeline's augmentation (``[AutoAugment,] Resize, RandomFlip,
Normalize, Pad``) runs on the device batch inside each training step
(:func:`detkit.data.split_device_augment`); the random choices are drawn in the loader workers
as the per-sample path draws them. Loaders pin memory when training on CUDA
(``data.train_dataloader.pin_memory`` overrides).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import time
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import torch
from torch import nn

from detkit.checkpoint import CheckpointError, checkpoint_problem, read_checkpoint_meta
from detkit.config import check_config_values
from detkit.config.settings import EVAL_HOOK_KEYS, evaluation_kwargs, loader_settings, setting
from detkit.data import build_dataloader, build_dataset, split_device_augment
from detkit.engine.dist import get_dist_info, wrap_distributed
from detkit.engine.hooks import CheckpointHook, DistSamplerSeedHook, EvalHook, Hook, SaveBestHook
from detkit.engine.log import get_root_logger
from detkit.engine.optim import GradientStep, build_optimizer, lr_hook_config
from detkit.engine.rng import set_random_seed
from detkit.engine.runner import Runner
from detkit.engine.testing import multi_gpu_test, single_gpu_test

__all__ = [
    "train_detector",
    "find_latest_checkpoint",
    "runner_budget",
    "skip_overwritten_pretrained",
    "device_augment_enabled",
]

# mmdet's result-collection options; detkit always gathers with all_gather_object
_TEST_LOOP_EVAL_KEYS = ("gpu_collect", "tmpdir")
_UNSUPPORTED_EVAL_KEYS = ("dynamic_intervals",)


def find_latest_checkpoint(work_dir: str) -> str | None:
    """``latest.pth`` in ``work_dir``, else the newest ``epoch_N.pth``/``iter_N.pth``, else None.

    A candidate that is not a complete checkpoint (empty, truncated, ...) is skipped with a
    warning naming it and the next newest is tried.

    Raises:
        CheckpointError: there are candidates but none is a complete checkpoint (resuming would
            otherwise silently start over).
    """
    latest = os.path.join(work_dir, "latest.pth")
    numbered = []
    for path in glob.glob(os.path.join(work_dir, "*.pth")):
        match = re.fullmatch(r"(?:epoch|iter)_(\d+)\.pth", os.path.basename(path))
        if match:
            numbered.append((int(match.group(1)), os.path.getmtime(path), path))
    candidates = ([latest] if os.path.exists(latest) else []) + [
        p for _, _, p in sorted(numbered, reverse=True)
    ]
    problems = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        problems.append(f"{path}: {problem}")
        warnings.warn(f"auto-resume: skipping {path}: {problem}", UserWarning, stacklevel=2)
    if problems:
        raise CheckpointError(
            f"auto-resume: no complete checkpoint in {work_dir}:\n  " + "\n  ".join(problems)
        )
    return None


def skip_overwritten_pretrained(cfg: Any, logger: Any = None) -> list[str]:
    """Clear ``Pretrained`` initialisation that ``load_from``/``resume_from`` would overwrite.

    MMDetection fetches e.g. the backbone's ``torchvision://resnet50`` before loading
    ``load_from`` on top of it; the seed config keeps that ``init_cfg`` from its base although
    its ``load_from`` replaces every backbone weight. Clearing it saves a download (and lets the
    seed config train offline once its ``load_from`` file is in the hub cache).

    Returns the config key paths that were cleared (each also logged).
    """
    if not (cfg.get("load_from") or cfg.get("resume_from") or cfg.get("auto_resume")):
        return []
    cleared: list[str] = []

    def visit(node: Any, path: str) -> None:
        if not isinstance(node, MutableMapping):
            if isinstance(node, (list, tuple)):
                for index, item in enumerate(node):
                    visit(item, f"{path}.{index}")
            return
        for key in list(node):
            value = node[key]
            if key == "pretrained" and isinstance(value, str):
                node[key] = None
                cleared.append(f"{path}.{key}")
            elif (
                key == "init_cfg"
                and isinstance(value, Mapping)
                and value.get("type") == "Pretrained"
            ):
                node[key] = None
                cleared.append(f"{path}.{key}")
            else:
                visit(value, f"{path}.{key}")

    visit(cfg.model, "model")
    if cleared and logger is not None:
        source = (
            cfg.get("resume_from") or cfg.get("load_from") or "the latest checkpoint (auto_resume)"
        )
        logger.info(
            f"not fetching pretrained weights at {', '.join(cleared)}: {source} overwrites them"
        )
    return cleared


def runner_budget(cfg: Mapping[str, Any]) -> tuple[int | None, int | None, bool]:
    """``(max_epochs, max_iters, by_epoch)`` from ``cfg.runner`` (a legacy ``total_epochs``
    becomes ``runner`` in :meth:`detkit.Config.load`)."""
    runner_cfg = cfg.get("runner")
    if runner_cfg is None:
        raise KeyError(
            "config sets no `runner`; add runner = dict(type='EpochBasedRunner', max_epochs=12) "
            "(Config.load turns a legacy `total_epochs = N` into it)"
        )
    runner_type = runner_cfg.get("type", "EpochBasedRunner")
    if runner_type == "EpochBasedRunner":
        if runner_cfg.get("max_epochs") is None:
            raise KeyError("runner.max_epochs is required for EpochBasedRunner")
        return int(runner_cfg["max_epochs"]), runner_cfg.get("max_iters"), True
    if runner_type == "IterBasedRunner":
        if runner_cfg.get("max_iters") is None:
            raise KeyError("runner.max_iters is required for IterBasedRunner")
        return None, int(runner_cfg["max_iters"]), False
    raise KeyError(
        f"runner.type {runner_type!r} is unknown; use 'EpochBasedRunner' or 'IterBasedRunner'"
    )


def device_augment_enabled(cfg: Mapping[str, Any]) -> bool:
    """The ``device_augment`` config key: a bool or ``dict(enable=bool)`` (default False)."""
    value = setting(cfg, "device_augment")
    if isinstance(value, Mapping):
        unknown = set(value) - {"enable"}
        if unknown:
            raise KeyError(
                f"device_augment: unknown keys {sorted(unknown)}; use "
                "device_augment=dict(enable=True)"
            )
        value = value.get("enable", False)
    if not isinstance(value, bool):
        raise TypeError(f"device_augment must be True/False or dict(enable=...), got {value!r}")
    return value


def _auto_scale_lr(cfg: Any, world_size: int, samples_per_gpu: int, logger: Any) -> None:
    scale_cfg = cfg.get("auto_scale_lr") or {}
    if not scale_cfg.get("enable", False):
        return
    if "base_batch_size" not in scale_cfg:
        raise KeyError("auto_scale_lr.enable is set but auto_scale_lr.base_batch_size is missing")
    batch = world_size * samples_per_gpu
    scaled = cfg["optimizer"]["lr"] * batch / scale_cfg["base_batch_size"]
    logger.info(
        f"auto_scale_lr: total batch {batch} vs base {scale_cfg['base_batch_size']}: lr -> {scaled}"
    )
    cfg["optimizer"]["lr"] = scaled


def _register_hooks(
    runner: Runner, cfg: Any, by_epoch: bool, classes: Sequence[str] | None
) -> None:
    if cfg.get("lr_config") is not None:
        runner.register_hook(lr_hook_config(cfg["lr_config"]), key_path="lr_config")
    checkpoint_cfg = dict(cfg.get("checkpoint_config") or {})
    save_best, rule = checkpoint_cfg.pop("save_best", None), checkpoint_cfg.pop("rule", None)
    if save_best is not None:  # MMEngine's place for it: the best of any validation value
        runner.register_hook(SaveBestHook(save_best, rule))
    checkpoint_cfg.setdefault("by_epoch", by_epoch)
    # the one place CLASSES enters checkpoint meta (mmdet's tools/train.py sets it there too)
    checkpoint_cfg["meta"] = {
        **(checkpoint_cfg.get("meta") or {}),
        "CLASSES": tuple(classes) if classes is not None else None,
    }
    runner.register_hook(CheckpointHook(**checkpoint_cfg))
    interval = setting(cfg, "log_config.interval")
    hook_cfgs = [dict(h) for h in setting(cfg, "log_config.hooks")]
    for index, hook_cfg in enumerate(hook_cfgs):
        hook_cfg.setdefault("interval", interval)
        if hook_cfg["type"] == "TextLoggerHook":
            hook_cfg.setdefault("by_epoch", by_epoch)
        runner.register_hook(hook_cfg, key_path=f"log_config.hooks.{index}")
    runner.register_hook(DistSamplerSeedHook())
    for index, hook_cfg in enumerate(cfg.get("custom_hooks") or []):
        if not isinstance(hook_cfg, Mapping):
            raise TypeError(f"custom_hooks entries must be dicts with a 'type', got {hook_cfg!r}")
        runner.register_hook(hook_cfg, key_path=f"custom_hooks.{index}")


def _register_eval_hook(runner: Runner, cfg: Any, distributed: bool, by_epoch: bool) -> None:
    val_cfg = dict(cfg["data"]["val"])
    val_cfg.pop("samples_per_gpu", None)  # a loader argument (loader_settings reads it)
    val_dataset = build_dataset(val_cfg, dict(test_mode=True))
    val_loader = build_dataloader(
        val_dataset,
        **loader_settings(cfg, "val"),
        dist=distributed,
        shuffle=False,
        seed=cfg.get("seed"),
    )
    eval_cfg = dict(cfg.get("evaluation") or {})
    for key in _UNSUPPORTED_EVAL_KEYS:
        if key in eval_cfg:
            raise KeyError(f"evaluation.{key} is not supported; use a fixed evaluation.interval")
    hook_args = {
        key: eval_cfg[key]
        for key in EVAL_HOOK_KEYS
        if key in eval_cfg and key not in _TEST_LOOP_EVAL_KEYS
    }
    hook_args.setdefault("by_epoch", by_epoch)
    test_fn = multi_gpu_test if distributed else functools.partial(single_gpu_test, display=False)
    runner.register_hook(
        EvalHook(val_loader, test_fn, val_dataset.evaluate, **hook_args, **evaluation_kwargs(cfg))
    )


def _restore_run_seed(cfg: Any, resume_from: str, meta: dict[str, Any], logger: Any) -> None:
    """Continue with the seed of the run being resumed (its checkpoint's ``meta['seed']``), so
    the data order matches an uninterrupted run even if this process drew another seed."""
    saved = read_checkpoint_meta(resume_from).get("seed")
    if saved is None:
        return
    if cfg.get("seed") != saved:
        logger.warning(
            f"resuming {resume_from}: using the run's seed {saved} from its meta "
            f"instead of {cfg.get('seed')}"
        )
        set_random_seed(int(saved))
    cfg["seed"] = meta["seed"] = int(saved)


def train_detector(
    model: nn.Module,
    dataset: Any,
    cfg: Any,
    distributed: bool = False,
    validate: bool = True,
    timestamp: str | None = None,
    meta: dict[str, Any] | None = None,
    extra_hooks: Sequence[Hook] = (),
) -> Runner:
    """Train ``model`` on ``dataset`` (or a list of datasets, one per ``workflow`` phase) as
    ``cfg`` says; returns the runner after training.

    Writes to ``cfg.work_dir``: ``<timestamp>.log``, ``<timestamp>.log.json``, ``epoch_N.pth``
    (or ``iter_N.pth``) and ``latest.pth``. Resumes from ``cfg.resume_from`` (or the newest
    checkpoint in ``work_dir`` with ``cfg.auto_resume``), else loads ``cfg.load_from`` weights.
    Checkpoint meta gets ``CLASSES`` of the first dataset. Hooks come from the config (a
    notebook's progress bar is ``log_config.hooks`` entry ``dict(type='ProgressBarHook')``),
    plus ``extra_hooks``: objects a config cannot hold (:func:`detkit.engine.launch.launch`'s
    stop request).
    ``detkit.setup_training`` builds ``model`` and ``dataset`` from the config for this call.
    """
    check_config_values(cfg)
    rank, world_size = get_dist_info()
    work_dir = cfg.get("work_dir")
    timestamp = timestamp or time.strftime("%Y%m%d_%H%M%S")
    if work_dir is not None and rank == 0:
        os.makedirs(work_dir, exist_ok=True)
    log_file = os.path.join(work_dir, f"{timestamp}.log") if work_dir is not None else None
    logger = get_root_logger(log_file, setting(cfg, "log_level"))

    datasets = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    workflow = [tuple(phase) for phase in setting(cfg, "workflow")]
    if len(datasets) != len(workflow):
        raise ValueError(f"workflow {workflow} needs {len(workflow)} datasets, got {len(datasets)}")
    resume_from = cfg.get("resume_from")
    if resume_from is None and cfg.get("auto_resume") and work_dir is not None:
        resume_from = find_latest_checkpoint(work_dir)
    meta = dict(meta or {})
    if resume_from is not None:
        _restore_run_seed(cfg, resume_from, meta, logger)
    elif cfg.get("seed") is not None:
        meta.setdefault("seed", cfg["seed"])
    device = cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    loader_args = loader_settings(cfg, "train")
    loader_args.setdefault("pin_memory", torch.device(device).type == "cuda")
    batch_transform = None
    if device_augment_enabled(cfg):
        train_index = [mode for mode, _ in workflow].index("train")
        datasets[train_index], batch_transform = split_device_augment(datasets[train_index])
        logger.info(
            f"device_augment: loaders stop after loading; on the {device} batch: "
            f"{batch_transform!r}"
        )
    loaders = [
        build_dataloader(ds, **loader_args, dist=distributed, seed=cfg.get("seed"))
        for ds in datasets
    ]

    if distributed:
        sync_bn = bool(setting(cfg, "sync_bn")) or (
            (((cfg.get("model") or {}).get("backbone") or {}).get("norm_cfg") or {}).get("type")
            == "SyncBN"
        )
        model = wrap_distributed(model, setting(cfg, "find_unused_parameters"), sync_bn=sync_bn)
    else:
        model = model.to(device)
    _auto_scale_lr(cfg, world_size, loader_args["samples_per_gpu"], logger)
    optimizer = build_optimizer(model, cfg["optimizer"])
    gradient_step = GradientStep.from_config(
        cfg.get("optimizer_config"), cfg.get("fp16"), torch.device(device).type
    )

    classes = getattr(datasets[0], "CLASSES", None)
    max_epochs, max_iters, by_epoch = runner_budget(cfg)
    runner = Runner(
        model,
        optimizer,
        work_dir=work_dir,
        logger=logger,
        meta=meta,
        max_epochs=max_epochs,
        max_iters=max_iters,
        gradient_step=gradient_step,
        batch_transform=batch_transform,
    )
    runner.timestamp = timestamp
    _register_hooks(runner, cfg, by_epoch, classes)
    if validate:
        _register_eval_hook(runner, cfg, distributed, by_epoch)
    for hook in extra_hooks:
        runner.register_hook(hook)

    if resume_from is not None:
        runner.resume(resume_from)
    elif cfg.get("load_from"):
        runner.load_checkpoint(cfg["load_from"])
    runner.run(loaders, workflow)
    return runner
