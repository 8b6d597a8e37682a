"""Formatting transforms: numpy fields -> tensors, and the final dict a model receives.

Without mmcv's ``DataContainer``, the per-sample format is plain: after ``DefaultFormatBundle``
and ``Collect``, a sample is ``{'img': float32 tensor [3, H, W], 'img_metas': dict,
'gt_bboxes': float32 tensor [N, 4] (xyxy absolute pixels), 'gt_labels': int64 tensor [N],
'gt_masks': BitmapMasks, ...}``. Batching (padding images to a common size) is done by
:func:`detkit.data.loaders.collate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from detkit.registry import PIPELINES

__all__ = ["to_tensor", "ToTensor", "ImageToTensor", "DefaultFormatBundle", "Collect"]

DEFAULT_META_KEYS = ("filename", "ori_filename", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip",
                     "flip_direction", "img_norm_cfg")


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
    """Fill meta defaults and turn the standard fields into tensors.

    - ``img``: ``(H, W, C)`` -> float32 ``[C, H, W]`` tensor (uint8 is converted when
      ``img_to_float``); sets ``pad_shape`` (= img shape), ``scale_factor`` (1.0) and
      ``img_norm_cfg`` (mean 0, std 1, to_rgb False) when missing.
    - ``proposals``, ``gt_bboxes``, ``gt_bboxes_ignore``, ``gt_labels``: tensors.
    - ``gt_masks``: kept as the mask object.
    - ``gt_semantic_seg``: ``[1, H, W]`` tensor.

    ``pad_val`` records the padding the collate function uses (img 0, seg 255).
    """

    def __init__(self, img_to_float: bool = True, pad_val: dict | None = None) -> None:
        self.img_to_float = img_to_float
        self.pad_val = pad_val if pad_val is not None else {"img": 0, "masks": 0, "seg": 255}

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img" in results:
            img = results["img"]
            results.setdefault("pad_shape", img.shape)
            results.setdefault("scale_factor", 1.0)
            channels = 1 if img.ndim < 3 else img.shape[2]
            results.setdefault("img_norm_cfg", {"mean": np.zeros(channels, dtype=np.float32),
                                                "std": np.ones(channels, dtype=np.float32), "to_rgb": False})
            if self.img_to_float and img.dtype == np.uint8:
                img = img.astype(np.float32)
            if img.ndim < 3:
                img = img[..., None]
            results["img"] = to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))
        for key in ("proposals", "gt_bboxes", "gt_bboxes_ignore", "gt_labels"):
            if key in results:
                results[key] = to_tensor(results[key])
        if "gt_semantic_seg" in results:
            results["gt_semantic_seg"] = to_tensor(np.ascontiguousarray(results["gt_semantic_seg"][None, ...]))
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(img_to_float={self.img_to_float})"


@PIPELINES.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas`` (a plain dict).

    Raises:
        KeyError: a key or meta key is missing from the results (names it and what is there).
    """

    def __init__(self, keys: Sequence[str], meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.keys = list(keys)
        self.meta_keys = list(meta_keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in self.keys + self.meta_keys if k not in results]
        if missing:
            raise KeyError(f"Collect: keys {missing} are not in the results (present: {sorted(results)}); "
                           "check the pipeline order or Collect(keys=..., meta_keys=...)")
        data = {"img_metas": {key: results[key] for key in self.meta_keys}}
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys}, meta_keys={tuple(self.meta_keys)})"
