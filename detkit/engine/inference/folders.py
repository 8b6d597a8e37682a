"""Folders of images: find them, run a detector over them, write drawn images and one JSON of
detections (``tools/infer.py``, notebook 05)."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from detkit.engine.inference.batch import predict_images
from detkit.io import write_json
from detkit.structures.results import DetectionResult

__all__ = ["IMAGE_SUFFIXES", "detection_records", "find_images", "infer_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def find_images(path: str) -> list[str]:
    """An image file, or every image under a folder (recursive, sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f"no image file or folder at {path}")
    found = sorted(
        osp.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    return found


def detection_records(
    result: DetectionResult, class_names: Sequence[str] | None, score_thr: float
) -> list[dict[str, Any]]:
    """``[{"label", "class", "score", "bbox"}]`` of the detections scoring ≥ ``score_thr``,
    in the result's row order; ``bbox`` xyxy in the result's pixels."""
    kept = result[result.scores >= score_thr].to("cpu")
    return [
        {
            "label": int(label),
            "class": class_names[label] if class_names else str(int(label)),
            "score": round(float(score), 5),
            "bbox": [round(float(v), 2) for v in box],
        }
        for box, score, label in zip(
            kept.boxes.tolist(), kept.scores.tolist(), kept.labels.tolist()
        )
    ]


def infer_folder(
    model: nn.Module, images: str, out_dir: str, score_thr: float = 0.3, batch_size: int = 1
) -> str:
    """Run ``model`` on an image or a folder of images; draw each result into ``out_dir``
    (same relative paths) and write ``out_dir/detections.json``; returns its path.

    JSON: a list of ``{"file", "detections": [{"label", "class", "score", "bbox"}]}`` with
    ``bbox`` xyxy in original-image pixels, in MMDetection's class-major order; detections below
    ``score_thr`` are left out.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    files = find_images(images)
    root = images if osp.isdir(images) else osp.dirname(images)
    from detkit.viz import show_result  # matplotlib only when drawing

    class_names = getattr(model, "CLASSES", None)
    records = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        for file, result in zip(chunk, predict_images(model, chunk)):
            result = result[
                torch.argsort(result.labels, stable=True)
            ]  # class-major, as mmdet lists
            relative = osp.relpath(file, root)
            show_result(file, result, class_names, score_thr, out_file=osp.join(out_dir, relative))
            records.append(
                dict(file=relative, detections=detection_records(result, class_names, score_thr))
            )
    json_file = osp.join(out_dir, "detections.json")
    write_json(json_file, records, indent=1)
    return json_file
