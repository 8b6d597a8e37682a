"""Inference API (MMDetection v2 ``mmdet.apis``), one module per job: ``loading``
(``init_detector``), ``batch`` (test pipeline, typed ``predict_images``, ``inference_detector``)
and ``folders`` (``find_images``, ``infer_folder``). Drawing lives in :mod:`detkit.viz`."""

from detkit.engine.inference.batch import (
    LoadImageFromArray,
    inference_detector,
    predict_batch,
    predict_images,
)
from detkit.engine.inference.folders import (
    IMAGE_SUFFIXES,
    detection_records,
    find_images,
    infer_folder,
)
from detkit.engine.inference.loading import init_detector

__all__ = [
    "IMAGE_SUFFIXES",
    "LoadImageFromArray",
    "detection_records",
    "find_images",
    "infer_folder",
    "inference_detector",
    "init_detector",
    "predict_batch",
    "predict_images",
]
