"""``setup_training``: the one wiring from a config to a ready training run (config dump, log,
environment, seed, model, datasets), shared by ``tools/train.py`` and notebook 04.

    setup = detkit.setup_training(cfg, seed=0)
    runner = setup.train(validate=True)      # -> detkit.train_detector(model, datasets, cfg, ...)

Config keys read here: ``work_dir`` (required), ``log_level``, ``cudnn_benchmark``, ``model``,
``train_cfg``/``test_cfg`` (legacy top level), ``data.train``, ``data.val`` and ``workflow``
(a ``('val', N)`` phase gets ``data.val`` with the train pipeline, as mmdet's ``tools/train.py``),
and ``load_from``/``resume_from``/``auto_resume`` (pretrained weights they overwrite are not
fetched). ``train_detector`` reads the rest.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from detkit.config.settings import setting
from detkit.data import build_dataset
from detkit.engine.dist import get_dist_info
from detkit.engine.env import format_env
from detkit.engine.hooks import Hook
from detkit.engine.log import get_root_logger
from detkit.engine.rng import init_random_seed, set_random_seed
from detkit.engine.runner import Runner
from detkit.engine.train import skip_overwritten_pretrained, train_detector
from detkit.models import build_detector

__all__ = ["TrainingSetup", "build_train_datasets", "setup_training"]


@dataclass
class TrainingSetup:
    """What :func:`setup_training` built; :meth:`train` hands it to ``train_detector``.

    Attributes:
        cfg: the config (``cfg.seed`` set to the seed used).
        model: the detector, weights initialised, ``CLASSES`` from the train dataset.
        datasets: one dataset per ``workflow`` phase (train first).
        meta: run meta for the log and every checkpoint (``env_info``, ``config``, ``seed``,
            ``exp_name``).
        timestamp: ``%Y%m%d_%H%M%S`` naming ``<work_dir>/<timestamp>.log`` and ``.log.json``.
        distributed: train with DDP (``torch.distributed`` initialised by the caller).
    """

    cfg: Any
    model: nn.Module
    datasets: list[Any]
    meta: dict[str, Any]
    timestamp: str
    distributed: bool = False

    def train(self, validate: bool = True, extra_hooks: Sequence[Hook] = ()) -> Runner:
        """Train as ``cfg`` says (evaluating ``data.val`` when ``validate``; ``extra_hooks``
        as :func:`~detkit.engine.train.train_detector`'s); the runner after."""
        return train_detector(
            self.model,
            self.datasets,
            self.cfg,
            distributed=self.distributed,
            validate=validate,
            timestamp=self.timestamp,
            meta=self.meta,
            extra_hooks=extra_hooks,
        )


def build_train_datasets(cfg: Any) -> list[Any]:
    """``data.train``, plus ``data.val`` with the train pipeline for a 2-phase ``workflow``."""
    datasets = [build_dataset(cfg.data.train)]
    if len(setting(cfg, "workflow")) == 2:
        val_cfg = copy.deepcopy(cfg.data.val)
        train_cfg = cfg.data.train.dataset if "dataset" in cfg.data.train else cfg.data.train
        if "pipeline" in train_cfg:  # losses need the train pipeline's annotations
            val_cfg.pipeline = train_cfg.pipeline
        datasets.append(build_dataset(val_cfg))
    return datasets


def setup_training(
    cfg: Any,
    *,
    distributed: bool = False,
    seed: int | None = None,
    deterministic: bool = False,
    diff_seed: bool = False,
    exp_name: str | None = None,
) -> TrainingSetup:
    """Prepare a training run from ``cfg`` (MMDetection v2's ``tools/train.py`` sequence).

    On rank 0 writes ``cfg`` to ``<work_dir>/<exp_name>`` and starts ``<work_dir>/<timestamp>.log``
    with the environment and the config; seeds python/numpy/torch; builds and initialises the
    model and the datasets. Checkpoints get ``CLASSES`` from the train dataset in
    ``train_detector`` (the one place it is written).

    Args:
        cfg: the config (changed in place: ``seed``, cleared pretrained weights).
        distributed: DDP training (call ``detkit.init_dist`` first).
        seed: the seed, or None for a random one (shared by all ranks).
        deterministic: deterministic cuDNN.
        diff_seed: add the rank to the seed.
        exp_name: the dumped config's file name (default: that of ``cfg.filename``).

    Raises:
        KeyError: ``cfg.work_dir`` is not set.
    """
    if not cfg.get("work_dir"):
        raise KeyError(
            "setup_training: cfg.work_dir is not set (where the config, logs and checkpoints go)"
        )
    rank, world_size = get_dist_info()
    if setting(cfg, "cudnn_benchmark"):
        torch.backends.cudnn.benchmark = True
    exp_name = exp_name or (osp.basename(cfg.filename) if cfg.filename else "config.py")
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    if rank == 0:
        os.makedirs(osp.abspath(cfg.work_dir), exist_ok=True)
        cfg.dump(osp.join(cfg.work_dir, exp_name))
    logger = get_root_logger(osp.join(cfg.work_dir, f"{timestamp}.log"), setting(cfg, "log_level"))
    env_info = format_env()
    logger.info("Environment info:\n" + env_info, extra={"collapse": "environment"})
    logger.info(f"Distributed training: {distributed} (world size {world_size})")
    logger.info(f"Config:\n{cfg.pretty_text}", extra={"collapse": f"config {exp_name}"})

    seed = init_random_seed(seed, device="cuda" if torch.cuda.is_available() else "cpu")
    seed = seed + rank if diff_seed else seed
    logger.info(f"Set random seed to {seed}, deterministic: {deterministic}")
    set_random_seed(seed, deterministic=deterministic)
    cfg.seed = seed
    meta = dict(env_info=env_info, config=cfg.pretty_text, seed=seed, exp_name=exp_name)

    skip_overwritten_pretrained(cfg, logger)
    model: Any = build_detector(
        cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg")
    )
    model.init_weights()
    datasets = build_train_datasets(cfg)
    model.CLASSES = getattr(datasets[0], "CLASSES", None)
    return TrainingSetup(cfg, model, datasets, meta, timestamp, distributed)
