"""Running a batch of images: the test pipeline (paths or arrays), the typed prediction and
``inference_detector`` (MMDetection v2 ``mmdet.apis``), which converts to mmdet's per-class
lists at its return.

Images given as arrays are HWC uint8 **BGR** (MMDetection's convention); paths are read by the
config's test pipeline.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from detkit.data.transforms.loading_variants import LoadImageFromArray
from detkit.engine.model_inputs import scatter
from detkit.models.detectors.base import predict_views
from detkit.structures.results import DetectionResult

__all__ = ["LoadImageFromArray", "inference_detector", "predict_batch", "predict_images"]

ImageLike = str | os.PathLike | np.ndarray


def _test_pipeline(cfg: Any, from_arrays: bool) -> Any:
    from detkit.data.transforms import Compose

    pipeline: list[Any] = copy.deepcopy(list(cfg.data.test.pipeline))
    if from_arrays:
        first = pipeline[0]
        if first["type"] not in ("LoadImageFromFile", "LoadImageFromWebcam"):
            raise ValueError(
                "inference on arrays replaces the first test transform LoadImageFromFile, "
                f"but the config starts with {first['type']!r}"
            )
        pipeline[0] = dict(type="LoadImageFromArray", to_float32=first.get("to_float32", False))
    return Compose(pipeline)


def _collate_images(model: nn.Module, images: Sequence[ImageLike]) -> dict[str, Any]:
    """The collated test batch of ``images`` (all paths or all arrays), as mmdet's
    ``collate(datas, samples_per_gpu=len(imgs))``."""
    from detkit.data import collate

    if not images:
        raise ValueError("inference_detector got an empty list of images")
    from_arrays = isinstance(images[0], np.ndarray)
    if any(isinstance(img, np.ndarray) != from_arrays for img in images):
        raise TypeError("imgs must be all paths or all arrays, not a mix")
    pipeline = _test_pipeline(model.cfg, from_arrays)
    samples = []
    for img in images:
        sample: dict[str, Any]
        if isinstance(img, np.ndarray):
            sample = dict(img=img)
        else:
            if not osp.isfile(img):
                raise FileNotFoundError(f"image not found: {img}")
            sample = dict(img_info=dict(filename=str(img)), img_prefix=None)
        samples.append(pipeline(sample))
    return collate(samples, samples_per_gpu=len(samples))


def predict_batch(model: nn.Module, batch: Mapping[str, Any]) -> list[DetectionResult]:
    """Typed detections of a collated test batch, boxes and masks in original-image pixels.

    ``batch['img']``/``batch['img_metas']`` are lists over test-time augmentations (as the
    test pipeline's ``MultiScaleFlipAug`` makes them), DataContainers as ``collate`` makes
    them or already unwrapped; the detector's own dispatch (:func:`predict_views`, as
    ``forward_test``) runs them.
    """
    detector: Any = model  # a detkit detector or an exported one (detkit.deploy): duck-typed
    # an exported detector has no parameters but names its device
    device = getattr(model, "device", None) or next(model.parameters()).device
    batch = scatter(batch, device)
    with torch.no_grad():
        return predict_views(detector, batch["img"], batch["img_metas"], rescale=True)


def predict_images(model: nn.Module, imgs: Sequence[ImageLike]) -> list[DetectionResult]:
    """Typed detections of ``imgs`` (paths or HWC uint8 BGR arrays, run as one batch) by
    ``model`` (from ``init_detector``: its ``cfg.data.test.pipeline`` is used)."""
    return predict_batch(model, _collate_images(model, list(imgs)))


def inference_detector(model: nn.Module, imgs: ImageLike | Sequence[ImageLike]) -> Any | list[Any]:
    """Run ``model`` (from :func:`~detkit.engine.inference.loading.init_detector`) on one
    image or a list of images.

    Args:
        model: a detector with ``model.cfg`` (its ``data.test.pipeline`` is used).
        imgs: a path, a HWC uint8 BGR array, or a list of them (run as one batch).

    Returns:
        The MMDetection v2 result of the image, or a list of results for a list input:
        ``(bbox_results, segm_results)`` with ``bbox_results`` a list of C float32 arrays
        ``[n_c, 5]`` (xyxy + score, original-image pixels) and ``segm_results`` C lists of
        bool masks ``[H, W]``; ``bbox_results`` alone for box-only detectors.
    """
    batched = isinstance(imgs, (list, tuple))
    images = list(imgs) if isinstance(imgs, (list, tuple)) else [cast(ImageLike, imgs)]
    num_classes = int(getattr(model, "num_classes"))  # noqa: B009  (nn.Module types it loosely)
    results = [r.to_mmdet(num_classes) for r in predict_images(model, images)]
    return results if batched else results[0]
