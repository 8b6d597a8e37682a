"""``MultiImageMixDataset`` (MMDetection v2.28): a dataset wrapper for multi-image transforms.

The wrapped dataset's own pipeline only loads (``LoadImageFromFile``, ``LoadAnnotations``);
this wrapper's ``pipeline`` then runs on each item, and before a transform that has
``get_indexes(dataset)`` (``Mosaic``, ``MixUp``, ``CopyPaste``) it loads those other items into
``results['mix_results']``. ``update_skip_type_keys`` switches transforms off by type name
during training (``YOLOXModeSwitchHook`` does it for the last epochs).
"""

from __future__ import annotations

import collections.abc
import copy
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from detkit.registry import DATASETS, PIPELINES, build

__all__ = ["MultiImageMixDataset"]


@DATASETS.register_module()
class MultiImageMixDataset(Dataset):
    """Run ``pipeline`` over ``dataset`` items, feeding multi-image transforms their partners.

    Args:
        dataset: a dataset or its config (its pipeline should stop after loading).
        pipeline: transform configs or callables.
        dynamic_scale: deprecated in mmdet v2.28 (must be None; use a ``Resize`` step).
        skip_type_keys: transform type names to skip.
        max_refetch: attempts to get partners that load (and a transform result that is not
            None) before raising.
    """

    def __init__(
        self,
        dataset: Any,
        pipeline: Sequence[Any],
        dynamic_scale: Any = None,
        skip_type_keys: Sequence[str] | None = None,
        max_refetch: int = 15,
    ) -> None:
        if dynamic_scale is not None:
            raise RuntimeError(
                "MultiImageMixDataset: dynamic_scale is deprecated (mmdet v2.28); "
                "use a Resize step in the pipeline instead"
            )
        if not isinstance(pipeline, collections.abc.Sequence):
            raise TypeError(
                f"MultiImageMixDataset: pipeline must be a list, got {type(pipeline).__name__}"
            )
        self._check_keys(skip_type_keys)
        self._skip_type_keys = list(skip_type_keys) if skip_type_keys is not None else None
        self.pipeline: list[Any] = []
        self.pipeline_types: list[str] = []
        for transform in pipeline:
            if isinstance(transform, dict):
                self.pipeline_types.append(transform["type"])
                self.pipeline.append(build(transform, PIPELINES))
            elif callable(transform):
                self.pipeline_types.append(type(transform).__name__)
                self.pipeline.append(transform)
            else:
                raise TypeError(
                    "MultiImageMixDataset: a pipeline step must be a dict or callable, got "
                    f"{transform!r}"
                )
        self.dataset = build(dataset, DATASETS)
        self.CLASSES = getattr(self.dataset, "CLASSES", None)
        self.PALETTE = getattr(self.dataset, "PALETTE", None)
        if hasattr(self.dataset, "flag"):
            self.flag = self.dataset.flag
        self.num_samples = len(self.dataset)
        self.max_refetch = max_refetch

    @staticmethod
    def _check_keys(keys: Sequence[str] | None) -> None:
        if keys is not None and not all(isinstance(k, str) for k in keys):
            raise TypeError(f"MultiImageMixDataset: skip_type_keys must be strings, got {keys!r}")

    def __len__(self) -> int:
        return self.num_samples

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        return self.dataset.get_ann_info(idx)

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(idx)

    def __getitem__(self, idx: int) -> Any:
        results = copy.deepcopy(self.dataset[idx])
        for transform, transform_type in zip(self.pipeline, self.pipeline_types):
            if self._skip_type_keys is not None and transform_type in self._skip_type_keys:
                continue
            if hasattr(transform, "get_indexes"):
                for _ in range(self.max_refetch):
                    indexes = transform.get_indexes(self.dataset)
                    if not isinstance(indexes, collections.abc.Sequence):
                        indexes = [indexes]
                    mix_results = [copy.deepcopy(self.dataset[i]) for i in indexes]
                    if None not in mix_results:
                        results["mix_results"] = mix_results
                        break
                else:
                    raise RuntimeError(
                        f"MultiImageMixDataset: the loading pipeline returned None for "
                        f"{self.max_refetch} draws of {transform_type}'s partner images"
                    )
            for _ in range(self.max_refetch):
                updated = transform(copy.deepcopy(results))
                if updated is not None:
                    results = updated
                    break
            else:
                raise RuntimeError(
                    f"MultiImageMixDataset: {transform_type} returned None {self.max_refetch} "
                    f"times for item {idx}"
                )
            results.pop("mix_results", None)
        return results

    def update_skip_type_keys(self, skip_type_keys: Sequence[str]) -> None:
        """Skip the transforms of these type names from now on (e.g. ``['Mosaic', 'MixUp']``)."""
        self._check_keys(skip_type_keys)
        self._skip_type_keys = list(skip_type_keys)

    def __repr__(self) -> str:
        return f"MultiImageMixDataset({self.dataset!r}, pipeline={self.pipeline_types})"
