"""Samplers: aspect-ratio groups (``GroupSampler``) and their distributed version.

Every batch of ``samples_per_gpu`` indices comes from one group of ``dataset.flag`` (1 =
landscape, 0 = portrait), so padded batches waste little. Each group is padded with repeated
indices to a multiple of ``samples_per_gpu`` (times ``num_replicas`` when distributed).
Shuffling uses a ``torch.Generator`` seeded with ``seed + epoch``; ``set_epoch`` picks the
epoch, and without it the epoch advances after each full iteration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["GroupSampler", "DistributedGroupSampler"]


def _group_flag(dataset: object) -> np.ndarray:
    flag = getattr(dataset, "flag", None)
    if flag is None:
        raise AttributeError(
            f"{type(dataset).__name__} has no 'flag' (aspect-ratio groups); build it with "
            "test_mode=False "
            "or use shuffle=False"
        )
    return np.asarray(flag, dtype=np.int64)


class DistributedGroupSampler(Sampler[int]):
    """Group sampler for one of ``num_replicas`` processes (MMDetection v2 semantics).

    Args:
        dataset: dataset with a ``flag`` array.
        samples_per_gpu: batch size per process.
        num_replicas: number of processes (world size).
        rank: this process's rank.
        seed: base seed; shuffling uses ``seed + epoch`` (the same on every rank).
    """

    def __init__(
        self,
        dataset: object,
        samples_per_gpu: int = 1,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int | None = 0,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.flag = _group_flag(dataset)
        self.samples_per_gpu = samples_per_gpu
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed if seed is not None else 0
        self.epoch = 0
        self._epoch_set = False
        self.group_sizes = np.bincount(self.flag)
        per = samples_per_gpu * num_replicas
        self.num_samples = sum(
            int(math.ceil(size / per)) * samples_per_gpu for size in self.group_sizes
        )
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._epoch_set = True

    def _indices(self) -> list[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        per = self.samples_per_gpu * self.num_replicas
        indices: list[int] = []
        for group, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            members = np.flatnonzero(self.flag == group)
            members = members[torch.randperm(int(size), generator=g).numpy()].tolist()
            extra = int(math.ceil(size / per)) * per - len(members)
            members += (members * (extra // size + 1))[:extra]
            indices += members
        batches = torch.randperm(len(indices) // self.samples_per_gpu, generator=g).tolist()
        return [
            indices[j]
            for b in batches
            for j in range(b * self.samples_per_gpu, (b + 1) * self.samples_per_gpu)
        ]

    def __iter__(self) -> Iterator[int]:
        indices = self._indices()
        if not self._epoch_set:
            self.epoch += 1
        self._epoch_set = False
        offset = self.num_samples * self.rank
        return iter(indices[offset : offset + self.num_samples])

    def __len__(self) -> int:
        return self.num_samples


class GroupSampler(DistributedGroupSampler):
    """Single-process group sampler: every group padded to a multiple of ``samples_per_gpu``."""

    def __init__(self, dataset: object, samples_per_gpu: int = 1, seed: int | None = 0) -> None:
        super().__init__(dataset, samples_per_gpu, num_replicas=1, rank=0, seed=seed)
