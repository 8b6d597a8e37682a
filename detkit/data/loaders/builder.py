"""``build_dataloader`` (MMDetection v2 signature) and per-worker seeding."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.distributed as dist_utils
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from detkit.data.loaders.collate import collate
from detkit.data.loaders.samplers import DistributedGroupSampler, GroupSampler

__all__ = ["build_dataloader", "worker_init_fn", "get_dist_info", "sync_random_seed"]


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of this process (``(0, 1)`` without torch.distributed)."""
    if dist_utils.is_available() and dist_utils.is_initialized():
        return dist_utils.get_rank(), dist_utils.get_world_size()
    return 0, 1


def sync_random_seed(seed: int | None) -> int:
    """Rank 0's ``seed`` (``None`` -> 0) on every rank (mmdet ``sync_random_seed``): the
    distributed samplers must shuffle alike so the ranks' shards do not overlap, even when
    each rank seeds itself differently (``--diff-seed``)."""
    value = 0 if seed is None else int(seed)
    _, world_size = get_dist_info()
    if world_size == 1:
        return value
    device = "cuda" if dist_utils.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(value, dtype=torch.int64, device=device)
    dist_utils.broadcast(tensor, src=0)
    return int(tensor.item())


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Seed numpy, random and torch in a worker with ``num_workers * rank + worker_id + seed``
    (mmdet)."""
    worker_seed = num_workers * rank + worker_id + seed
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def build_dataloader(
    dataset: Any,
    samples_per_gpu: int,
    workers_per_gpu: int,
    num_gpus: int = 1,
    dist: bool = False,
    shuffle: bool = True,
    seed: int | None = None,
    persistent_workers: bool = False,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader yielding batches in the format documented in :mod:`detkit.data.loaders.collate`.

    Args:
        dataset: a built dataset (with ``flag`` when ``shuffle``).
        samples_per_gpu: images per GPU (per process when ``dist``).
        workers_per_gpu: loader worker processes per GPU.
        num_gpus: GPUs driven by this process when not distributed (batch = num_gpus *
        samples_per_gpu).
        dist: distributed (torchrun): a ``DistributedGroupSampler`` (shuffle) or a
            ``DistributedSampler`` (no shuffle) over this process's rank.
        shuffle: aspect-ratio ``GroupSampler`` shuffled per epoch; False keeps dataset order.
        seed: seeds the samplers (rank 0's value on every rank when ``dist``) and the
            workers (this rank's value; mmdet ``worker_init_fn``).
        persistent_workers: keep workers alive between epochs (needs workers_per_gpu > 0).
        **kwargs: passed to ``torch.utils.data.DataLoader``.
    """
    rank, world_size = get_dist_info()
    sampler: Sampler[int] | None
    if dist:
        if shuffle:
            sampler = DistributedGroupSampler(
                dataset, samples_per_gpu, world_size, rank, seed=sync_random_seed(seed)
            )
        else:
            sampler = DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed or 0)
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        sampler = GroupSampler(dataset, samples_per_gpu, seed=seed) if shuffle else None
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    init_fn = (
        partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed)
        if seed is not None
        else None
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
        pin_memory=kwargs.pop("pin_memory", False),
        worker_init_fn=init_fn,
        persistent_workers=persistent_workers and num_workers > 0,
        **kwargs,
    )
