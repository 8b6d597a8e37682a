"""Formatting transforms: numpy fields -> tensors, and the final dict a model receives.

As in MMDetection v2, after ``DefaultFormatBundle`` and ``Collect`` a training sample is
``{'img': DataContainer(float32 [3, H, W], stack=True), 'img_metas': DataContainer(dict,
cpu_only=True), 'gt_bboxes': DataContainer(float32 [N, 4] xyxy absolute pixels),
'gt_labels': DataContainer(int64 [N]), 'gt_masks': DataContainer(BitmapMasks, cpu_only=True),
...}`` (:class:`~detkit.structures.data_container.DataContainer`, mmcv's semantics); a test
sample from ``ImageToTensor`` has a plain ``img`` tensor. Batching (padding images to a common
size) is done by :func:`detkit.data.loaders.collate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from detkit.registry import PIPELINES
from detkit.structures.data_container import DataContainer

__all__ = ["to_tensor", "ToTensor", "ImageToTensor", "DefaultFormatBundle", "Collect"]

DEFAULT_META_KEYS = (
    "filename",
    "ori_filename",
    "ori_shape",
    "img_shape",
    "pad_shape",
    "scale_factor",
    "flip",
    "flip_direction",
    "img_norm_cfg",
)


def to_tensor(data: Any) -> torch.Tensor:
    """numpy array, tensor, sequence, int or float -> tensor (mmdet ``to_tensor``)."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise TypeError(f"type {type(data).__name__} cannot be converted to a tensor")
    return torch.tensor([data], dtype=torch.int64 if isinstance(data, int) else torch.float32)


@PIPELINES.register_module()
class ToTensor:
    """Convert ``results[key]`` for each key to a tensor."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            results[key] = to_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys})"


@PIPELINES.register_module()
class ImageToTensor:
    """``(H, W, C)`` (or ``(H, W)``) array -> ``[C, H, W]`` tensor for each key; dtype unchanged."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            img = results[key]
            if img.ndim < 3:
                img = img[..., None]
            results[key] = to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys})"


@PIPELINES.register_module()
class DefaultFormatBundle:
    """Fill meta defaults and wrap the standard fields in ``DataContainer``s (mmdet v2).

    - ``img``: ``(H, W, C)`` -> float32 ``[C, H, W]`` tensor (uint8 is converted when
      ``img_to_float``) in ``DataContainer(stack=True, padding_value=pad_val['img'])``; sets
      ``pad_shape`` (= img shape), ``scale_factor`` (1.0) and ``img_norm_cfg`` (mean 0,
      std 1, to_rgb False) when missing.
    - ``proposals``, ``gt_bboxes``, ``gt_bboxes_ignore``, ``gt_labels``: tensors in plain
      ``DataContainer``s (batched as lists).
    - ``gt_masks``: the mask object in ``DataContainer(cpu_only=True)``.
    - ``gt_semantic_seg``: ``[1, H, W]`` tensor, ``DataContainer(stack=True,
      padding_value=pad_val['seg'])``.
    """

    def __init__(self, img_to_float: bool = True, pad_val: dict | None = None) -> None:
        self.img_to_float = img_to_float
        self.pad_val = pad_val if pad_val is not None else {"img": 0, "masks": 0, "seg": 255}
        missing = {"img", "masks", "seg"} - set(self.pad_val)
        if missing:
            raise KeyError(
                f"DefaultFormatBundle: pad_val needs keys img, masks and seg, "
                f"missing {sorted(missing)}"
            )

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img" in results:
            img = results["img"]
            results.setdefault("pad_shape", img.shape)
            results.setdefault("scale_factor", 1.0)
            channels = 1 if img.ndim < 3 else img.shape[2]
            results.setdefault(
                "img_norm_cfg",
                {
                    "mean": np.zeros(channels, dtype=np.float32),
                    "std": np.ones(channels, dtype=np.float32),
                    "to_rgb": False,
                },
            )
            if self.img_to_float and img.dtype == np.uint8:
                img = img.astype(np.float32)
            if img.ndim < 3:
                img = img[..., None]
            img = to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))
            results["img"] = DataContainer(img, padding_value=self.pad_val["img"], stack=True)
        for key in ("proposals", "gt_bboxes", "gt_bboxes_ignore", "gt_labels"):
            if key in results:
                results[key] = DataContainer(to_tensor(results[key]))
        if "gt_masks" in results:
            results["gt_masks"] = DataContainer(
                results["gt_masks"], padding_value=self.pad_val["masks"], cpu_only=True
            )
        if "gt_semantic_seg" in results:
            seg = to_tensor(np.ascontiguousarray(results["gt_semantic_seg"][None, ...]))
            results["gt_semantic_seg"] = DataContainer(
                seg, padding_value=self.pad_val["seg"], stack=True
            )
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(img_to_float={self.img_to_float})"


@PIPELINES.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas``, a
    ``DataContainer(dict, cpu_only=True)`` (mmdet v2).

    Raises:
        KeyError: a key or meta key is missing from the results (names it and what is there).
    """

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.keys = list(keys)
        self.meta_keys = list(meta_keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in self.keys + self.meta_keys if k not in results]
        if missing:
            raise KeyError(
                f"Collect: keys {missing} are not in the results (present: {sorted(results)}); "
                "check the pipeline order or Collect(keys=..., meta_keys=...)"
            )
        data = {
            "img_metas": DataContainer({key: results[key] for key in self.meta_keys}, cpu_only=True)
        }
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys}, meta_keys={tuple(self.meta_keys)})"
