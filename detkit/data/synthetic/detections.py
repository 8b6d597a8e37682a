"""Detector results with known errors, made from COCO ground truth: the test and bench input of
the error analysis (:mod:`detkit.analysis.coco_error_matching`).

Per non-crowd ground truth one outcome is drawn: a close detection (``tp``), a shifted one
(``loc``, IoU about 0.2-0.4), one of another class on it (``confusion``), a close one plus a
lower-scoring near copy (``duplicate``) or nothing (``miss``); each image also gets a Poisson
number of boxes on background of random classes. Masks, when asked for, fill each box
(COCO RLE, as ``tools/test.py --out`` pickles them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

__all__ = ["OUTCOMES", "simulate_results"]

OUTCOMES = ("tp", "loc", "confusion", "duplicate", "miss")
_DEFAULT_RATES = {"tp": 0.55, "loc": 0.1, "confusion": 0.1, "duplicate": 0.05, "miss": 0.2}


def _box_mask(box: np.ndarray, height: int, width: int) -> dict[str, Any]:
    mask = np.zeros((height, width), np.uint8, order="F")
    x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
    mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = 1
    return mask_util.encode(mask)


def _jitter(rng: np.random.Generator, box: np.ndarray, scale: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return box + rng.normal(0, scale, 4) * np.array([w, h, w, h])


def simulate_results(
    coco: COCO,
    img_ids: Sequence[int],
    cat_ids: Sequence[int],
    seed: int = 0,
    with_masks: bool = False,
    rates: Mapping[str, float] | None = None,
    background_per_image: float = 0.5,
) -> list[Any]:
    """MMDetection v2 results (one per image of ``img_ids``: per-class ``[n, 5]`` arrays
    sorted by score; ``(bbox_results, segm_results)`` with ``with_masks``) whose errors
    are drawn with ``rates`` (outcome -> probability, default 55 % tp, 10 % loc, 10 %
    confusion, 5 % duplicate, 20 % miss).

    Raises:
        ValueError: an unknown outcome or rates that do not sum to 1.
    """
    rates = dict(_DEFAULT_RATES if rates is None else rates)
    unknown = set(rates) - set(OUTCOMES)
    if unknown or abs(sum(rates.values()) - 1) > 1e-6:
        raise ValueError(f"rates must map outcomes of {OUTCOMES} to probabilities summing to 1")
    names, probs = list(rates), np.array(list(rates.values()))
    label_of = {c: k for k, c in enumerate(cat_ids)}
    rng = np.random.default_rng(seed)
    results: list[Any] = []
    for img_id in img_ids:
        info = coco.imgs[img_id]
        height, width = int(info["height"]), int(info["width"])
        rows: list[tuple[int, np.ndarray]] = []  # (label, [x1, y1, x2, y2, score])
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])):
            if ann.get("iscrowd") or ann["category_id"] not in label_of:
                continue
            x, y, w, h = ann["bbox"]
            box = np.array([x, y, x + w, y + h], float)
            label = label_of[ann["category_id"]]
            outcome = names[rng.choice(len(names), p=probs)]
            if outcome in ("tp", "duplicate"):
                rows.append((label, np.append(_jitter(rng, box, 0.02), rng.uniform(0.5, 1))))
            if outcome == "duplicate":
                copy = _jitter(rng, box, 0.06)
                rows.append((label, np.append(copy, rng.uniform(0.3, rows[-1][1][4]))))
            elif outcome == "loc":
                shift = rng.uniform(0.45, 0.65) * rng.choice([-1, 1], 2) * [w, h]
                rows.append((label, np.append(box + np.tile(shift, 2), rng.uniform(0.3, 0.9))))
            elif outcome == "confusion" and len(cat_ids) > 1:
                other = (label + rng.integers(1, len(cat_ids))) % len(cat_ids)
                rows.append((int(other), np.append(_jitter(rng, box, 0.02), rng.uniform(0.3, 0.9))))
        for _ in range(rng.poisson(background_per_image)):
            w, h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.2) * height
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            label = int(rng.integers(len(cat_ids)))
            rows.append((label, np.array([x, y, x + w, y + h, rng.uniform(0.05, 0.7)])))
        bbox_results, segm_results = [], []
        for label in range(len(cat_ids)):
            dets: np.ndarray = np.array([r for k, r in rows if k == label], np.float32).reshape(
                -1, 5
            )
            dets[:, 0:4:2] = dets[:, 0:4:2].clip(0, width)
            dets[:, 1:4:2] = dets[:, 1:4:2].clip(0, height)
            dets = dets[np.argsort(-dets[:, 4], kind="stable")]
            bbox_results.append(dets)
            segm_results.append([_box_mask(d, height, width) for d in dets])
        results.append((bbox_results, segm_results) if with_masks else bbox_results)
    return results
