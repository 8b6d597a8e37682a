"""Dataset wrappers: ``RepeatDataset`` (longer epochs) and ``ConcatDataset`` (several datasets)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from torch.utils.data.dataset import ConcatDataset as _TorchConcatDataset

from detkit.registry import DATASETS, build

__all__ = ["RepeatDataset", "ConcatDataset"]


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """``dataset`` repeated ``times`` (item ``i`` is ``dataset[i % len(dataset)]``).

    Args:
        dataset: a dataset or its config.
        times: repeat factor (>= 1).
    """

    def __init__(self, dataset: Any, times: int) -> None:
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"RepeatDataset times must be a positive int, got {times!r}")
        self.dataset = build(dataset, DATASETS)
        self.times = times
        self.CLASSES = getattr(self.dataset, "CLASSES", None)
        self.PALETTE = getattr(self.dataset, "PALETTE", None)
        if hasattr(self.dataset, "flag"):
            self.flag = np.tile(self.dataset.flag, times)
        self._ori_len = len(self.dataset)

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[idx % self._ori_len]

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def __len__(self) -> int:
        return self.times * self._ori_len


@DATASETS.register_module()
class ConcatDataset(_TorchConcatDataset):
    """Concatenation of datasets with the same classes; keeps the group ``flag`` of each.

    Args:
        datasets: datasets or their configs.
        separate_eval: accepted for mmdet config compatibility (evaluation is per dataset).
    """

    def __init__(self, datasets: Sequence[Any], separate_eval: bool = True) -> None:
        built = [build(d, DATASETS) for d in datasets]
        if not built:
            raise ValueError("ConcatDataset needs at least one dataset")
        super().__init__(built)
        self.CLASSES = getattr(built[0], "CLASSES", None)
        self.PALETTE = getattr(built[0], "PALETTE", None)
        self.separate_eval = separate_eval
        if all(hasattr(d, "flag") for d in built):
            self.flag = np.concatenate([d.flag for d in built])

    def get_cat_ids(self, idx: int) -> list[int]:
        if idx < 0:
            idx += len(self)
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx - (self.cumulative_sizes[dataset_idx - 1] if dataset_idx > 0 else 0)
        dataset: Any = self.datasets[dataset_idx]  # a detkit dataset (CustomDataset API)
        return list(dataset.get_cat_ids(sample_idx))
