"""Best and worst images by per-image mAP (MMDetection v2
``tools/analysis_tools/analyze_results.py``).

Each image's box mAP is the VOC-style :func:`~detkit.evaluation.mean_ap.eval_map` of its
detections against its annotations, averaged over IoU 0.50:0.05:0.95. The ``topk`` lowest go
to ``<show_dir>/bad``, the ``topk`` highest to ``<show_dir>/good`` (``topk`` is capped at half
the images), each drawn as ground truth over detections (or overlaid) and saved as
``<stem>_<mAP rounded to 3><ext>``. Images are loaded with the training pipeline's loading
steps (``LoadImageFromFile``, ``LoadAnnotations``), so what is drawn is what was annotated.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from detkit.analysis.common import (
    bbox_results_of,
    load_results,
)
from detkit.config import Config
from detkit.engine.testing_setup import build_test_dataset
from detkit.evaluation.mean_ap import eval_map
from detkit.structures.results import DetectionResult
from detkit.viz.panels import save_panels

__all__ = ["LOADING_TYPES", "bbox_map_eval", "rank_images", "analyze_results"]

LOADING_TYPES = (
    "LoadImageFromArray",
    "LoadImageFromFile",
    "LoadImageFromWebcam",
    "LoadMultiChannelImageFromFiles",
    "LoadAnnotations",
    "LoadPanopticAnnotations",
)
IOU_THRS = np.linspace(0.5, 0.95, 10)


def bbox_map_eval(det_result: Any, annotation: Mapping[str, Any]) -> float:
    """Box mAP of one image, averaged over IoU 0.50:0.95 (``det_result``: an mmdet result)."""
    boxes = bbox_results_of(det_result)
    return float(np.mean([eval_map([boxes], [annotation], iou_thr=thr)[0] for thr in IOU_THRS]))


def _train_loading_pipeline(cfg: Any) -> list[dict[str, Any]]:
    train = cfg.data.train
    while isinstance(train, Mapping) and "dataset" in train:
        train = train["dataset"]
    train = train[0] if isinstance(train, list) else train
    return [dict(step) for step in train["pipeline"] if step["type"] in LOADING_TYPES]


def rank_images(
    dataset: Any,
    results: Sequence[Any],
    topk: int = 20,
    eval_fn: Callable[[Any, Mapping[str, Any]], float] | None = None,
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """``(good, bad)``: the ``topk`` highest and lowest ``(index, mAP)`` pairs, ascending
    (``topk`` capped at ``len(dataset) // 2``; ``eval_fn(result, ann_info)`` defaults to
    :func:`bbox_map_eval`)."""
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    if len(results) != len(dataset):
        raise ValueError(f"got {len(results)} results for the {len(dataset)} images of the dataset")
    topk = min(topk, max(len(dataset) // 2, 1))
    eval_fn = eval_fn or bbox_map_eval
    scored = sorted(
        ((i, eval_fn(r, dataset.get_ann_info(i))) for i, r in enumerate(results)),
        key=lambda item: item[1],
    )
    return scored[-topk:], scored[:topk]


def _save(
    dataset: Any,
    results: Sequence[Any],
    ranked: Sequence[tuple[int, float]],
    out_dir: str,
    score_thr: float,
    overlay_gt_pred: bool,
    show: bool,
    wait_time: float,
) -> list[str]:
    files = []
    for index, m_ap in ranked:
        item = dataset.prepare_train_img(index)
        stem, ext = osp.splitext(osp.basename(item["filename"]))
        out_file = osp.join(out_dir, f"{stem}_{round(m_ap, 3)}{ext}")
        detections = DetectionResult.from_mmdet(results[index])
        kept = detections[detections.scores >= score_thr]
        gt = dict(bboxes=item["gt_bboxes"], labels=item["gt_labels"], masks=item.get("gt_masks"))
        det = dict(
            bboxes=kept.boxes.numpy(),
            labels=kept.labels.numpy(),
            scores=kept.scores.numpy(),
            masks=None if (dense := kept.dense_masks()) is None else dense.numpy(),
        )
        panels = (
            [[gt, det]]
            if overlay_gt_pred
            else [{**gt, "title": "ground truth"}, {**det, "title": f"detections (mAP {m_ap:.3f})"}]
        )
        save_panels(
            panels,
            np.ascontiguousarray(item["img"][:, :, ::-1]),
            out_file,
            dataset.CLASSES,
            show=show,
            wait_time=wait_time,
        )
        files.append(out_file)
    return files


def analyze_results(
    config: Any,
    prediction_path: str | list[Any],
    show_dir: str,
    topk: int = 20,
    show: bool = False,
    wait_time: float = 0,
    show_score_thr: float = 0.0,
    overlay_gt_pred: bool = False,
    cfg_options: Mapping[str, Any] | None = None,
) -> dict[str, list[tuple[int, float]]]:
    """``analyze_results.py``: rank the images of ``cfg.data.test`` by per-image mAP of the
    results pickle and draw the best into ``<show_dir>/good``, the worst into
    ``<show_dir>/bad`` (and display them with ``show``, ``wait_time`` seconds each, 0:
    blocking); returns ``{'good': [(index, mAP)], 'bad': [...]}`` (ascending)."""
    cfg = Config.load(config, cfg_options)
    results = load_results(prediction_path)
    cfg.data.test.pipeline = _train_loading_pipeline(cfg)
    dataset = build_test_dataset(cfg)
    good, bad = rank_images(dataset, results, topk)
    for name, ranked in (("good", good), ("bad", bad)):
        _save(
            dataset,
            results,
            ranked,
            osp.join(show_dir, name),
            show_score_thr,
            overlay_gt_pred,
            show,
            wait_time,
        )
    return dict(good=good, bad=bad)
