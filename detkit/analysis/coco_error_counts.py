"""What an :class:`~detkit.analysis.coco_error_matching.ErrorMatching` says at one IoU and
score threshold: each detection's kind, each ground truth missed or not, counts per image and
per class, a confusion matrix, and the APs of ``coco_error_analysis``'s breakdown.

Kinds of a detection at IoU threshold ``t`` (first that applies; ``coco_error_analysis``'s
nesting, with duplicates told apart):

``tp`` matched at ``t`` · ``ignored`` matched a crowd region at ``t`` · ``duplicate`` IoU >= ``t``
with a ground truth of its class that a higher-scoring detection matched · ``loc`` matched at
IoU 0.10 (a localisation error: ``Loc`` forgives it) · ``sim`` covers a ground truth of another
class of its supercategory (``Sim``) · ``oth`` covers one of any other class (``Oth``) ·
``bg`` none of these (background: ``BG`` forgives it).

A ground truth is missed when no detection scoring >= the score threshold matched it at ``t``
(crowd regions are never missed). Matching does not depend on the score threshold: COCOeval
matches greedily by score, so dropping the detections below it changes no other match.

APs use pycocotools' own ``COCOeval.accumulate`` over these matches (101 recall points).
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools.cocoeval import COCOeval

from detkit.analysis.coco_error_matching import IOU_GRID, ErrorMatching

__all__ = [
    "DET_KINDS",
    "ERROR_KINDS",
    "Classified",
    "classify",
    "image_counts",
    "class_table",
    "confusion_counts",
    "image_ap",
    "breakdown",
]

DET_KINDS = ("tp", "ignored", "duplicate", "loc", "sim", "oth", "bg")
# error kinds a user filters by -> detection kinds (``miss`` is about ground truth)
ERROR_KINDS: dict[str, tuple[str, ...]] = {
    "any error": ("duplicate", "loc", "sim", "oth", "bg", "miss"),
    "false positive": ("duplicate", "loc", "sim", "oth", "bg"),
    "localisation": ("loc",),
    "confusion": ("sim", "oth"),
    "duplicate": ("duplicate",),
    "background": ("bg",),
    "miss": ("miss",),
}
_CODE = {name: code for code, name in enumerate(DET_KINDS)}
_COCO_THRS = slice(8, 18)  # IOU_GRID[8:18] = 0.50:0.05:0.95, COCO's mAP thresholds


@dataclass
class Classified:
    """Kinds at ``IOU_GRID[t]`` and ``score_thr``: ``kind`` ``[D]`` (index into
    ``DET_KINDS``, -1 below the score threshold), ``gt_missed`` ``[G]`` bool, ``gt_hit``
    ``[G]`` (the detection row that matched it, -1 none)."""

    matching: ErrorMatching
    t: int
    score_thr: float
    kind: np.ndarray
    gt_missed: np.ndarray
    gt_hit: np.ndarray

    @property
    def iou_thr(self) -> float:
        return float(IOU_GRID[self.t])


def _take(values: np.ndarray, rows: np.ndarray, missing: Any) -> np.ndarray:
    """``values[rows]`` with ``missing`` where a row is -1."""
    if len(values) == 0:
        return np.full(len(rows), missing)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], missing)


def classify(matching: ErrorMatching, iou_thr: float, score_thr: float = 0.0) -> Classified:
    """Each detection's kind and each ground truth's miss at ``iou_thr`` (one of
    ``IOU_GRID``) among the detections scoring >= ``score_thr`` (see the module docstring)."""
    m, t = matching, matching.threshold_index(iou_thr)
    matched = (m.det_match[t] >= 0) & ~m.det_ignored[t]
    rules = [
        (matched, "tp"),
        (m.det_ignored[t], "ignored"),
        (m.det_duplicate[t], "duplicate"),
        (m.det_match[0] >= 0, "loc"),
        (m.det_sim, "sim"),
        (m.det_oth, "oth"),
    ]
    kind = np.full(len(m.det_score), _CODE["bg"], np.int64)
    for condition, name in reversed(rules):  # the first rule that applies wins
        kind[condition] = _CODE[name]
    kind[m.det_score < score_thr] = -1
    hit = m.gt_match[t].copy()
    hit[(hit >= 0) & (_take(m.det_score, hit, np.inf) < score_thr)] = -1
    return Classified(m, t, score_thr, kind, (hit < 0) & ~m.gt_crowd, hit)


def _error_masks(c: Classified, error: str) -> tuple[np.ndarray, np.ndarray]:
    """Detection and ground-truth masks of the error kind ``error`` (an ``ERROR_KINDS`` key,
    or ``'tp'``)."""
    if error == "tp":
        return c.kind == _CODE["tp"], np.zeros(len(c.gt_missed), bool)
    if error not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {error!r}; choose from {['tp', *ERROR_KINDS]}")
    kinds = ERROR_KINDS[error]
    det = np.isin(c.kind, [_CODE[k] for k in kinds if k != "miss"])
    gt = c.gt_missed.copy() if "miss" in kinds else np.zeros(len(c.gt_missed), bool)
    return det, gt


def image_counts(
    c: Classified, error: str, label: int | None = None, confused_with: int | None = None
) -> np.ndarray:
    """``[I]`` how many errors of kind ``error`` each image has (of class ``label`` only; a
    confusion with ground truth of class ``confused_with`` only)."""
    m = c.matching
    det, gt = _error_masks(c, error)
    if label is not None:
        det &= m.det_label == label
        gt &= m.gt_label == label
    if confused_with is not None:
        det &= _take(m.gt_label, m.det_confused, -1) == confused_with
        gt[:] = False
    return np.bincount(m.det_image[det], minlength=m.num_images) + np.bincount(
        m.gt_image[gt], minlength=m.num_images
    )


def class_table(c: Classified, ap: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per class: ``class``, ``gt`` (non-crowd ground truth), ``detections`` (>= the
    score threshold), ``tp``, then the count of each error kind but ``any error``/``false
    positive``, and ``AP`` (``ap[k]`` when given: :func:`breakdown`'s ``'C'`` per class)."""
    m = c.matching
    rows = []
    for k, name in enumerate(m.class_names):
        row: dict[str, Any] = {
            "class": name,
            "gt": int(((m.gt_label == k) & ~m.gt_crowd).sum()),
            "detections": int(((m.det_label == k) & (c.kind >= 0)).sum()),
        }
        for error in ("tp", "localisation", "confusion", "duplicate", "background", "miss"):
            det, gt = _error_masks(c, error)
            row[error] = int((det & (m.det_label == k)).sum() + (gt & (m.gt_label == k)).sum())
        if ap is not None:
            row["AP"] = float(ap[k])
        rows.append(row)
    return rows


def confusion_counts(c: Classified) -> np.ndarray:
    """``[C + 1, C + 1]``: row = ground-truth class (``C``: background), column = predicted
    class (``C``: missed). ``[g, g]`` true positives, ``[g, p]`` detections of ``p`` on a
    ground truth of ``g`` (``sim``/``oth``), ``[C, p]`` background detections of ``p``,
    ``[g, C]`` misses of ``g``. Localisation errors and duplicates are not class errors and
    are left out (see :func:`class_table`)."""
    m = c.matching
    num = m.num_classes
    counts = np.zeros((num + 1, num + 1), np.int64)
    tp = c.kind == _CODE["tp"]
    np.add.at(counts, (m.det_label[tp], m.det_label[tp]), 1)
    confused = np.isin(c.kind, [_CODE["sim"], _CODE["oth"]])
    np.add.at(counts, (m.gt_label[m.det_confused[confused]], m.det_label[confused]), 1)
    background = c.kind == _CODE["bg"]
    np.add.at(counts, (np.full(background.sum(), num), m.det_label[background]), 1)
    np.add.at(counts, (m.gt_label[c.gt_missed], np.full(c.gt_missed.sum(), num)), 1)
    return counts


def _accumulate(entries: list[dict[str, Any] | None], num_groups: int, rows: int) -> np.ndarray:
    """``COCOeval.accumulate``'s precision ``[rows, R, num_groups]`` of per-image entries
    (``dtScores``, ``dtMatches``/``dtIgnore`` ``[rows, n]``, ``gtIgnore``) laid out as
    ``evalImgs`` (group-major); -1 for groups without ground truth."""
    if num_groups == 0:
        return -np.ones((rows, 101, 0))
    evaluator = COCOeval(iouType="bbox")
    params = evaluator.params
    params.catIds = list(range(num_groups))
    params.imgIds = list(range(len(entries) // num_groups))
    params.iouThrs = np.arange(rows, dtype=float)  # the rows are separate PR curves
    params.areaRng, params.areaRngLbl, params.maxDets = [[0, 1e10]], ["all"], [100]
    evaluator.evalImgs = entries
    evaluator._paramsEval = copy.deepcopy(params)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    return evaluator.eval["precision"][:, :, :, 0, 0]


def _entry(m: ErrorMatching, k: int, i: int, dtm: np.ndarray, dtig: np.ndarray) -> Any:
    d0, d1 = m.groups[k, i]
    g0, g1 = m.gt_groups[k, i]
    if d0 == d1 and g0 == g1:
        return None
    return {
        "dtScores": m.det_score[d0:d1],
        "dtMatches": dtm[:, d0:d1],
        "dtIgnore": dtig[:, d0:d1],
        "gtIgnore": m.gt_crowd[g0:g1].astype(int),
    }


def image_ap(m: ErrorMatching) -> np.ndarray:
    """``[I]`` each image's COCO AP: the mean precision over IoU 0.50:0.95, 101 recall points
    and the classes with ground truth in it (NaN for an image without ground truth)."""
    dtm, dtig = m.det_match[_COCO_THRS] >= 0, m.det_ignored[_COCO_THRS]
    rows = dtm.shape[0]
    entries = [
        _entry(m, k, i, dtm, dtig) for i in range(m.num_images) for k in range(m.num_classes)
    ]
    precision = _accumulate(entries, len(entries), rows)  # one group per (image, class)
    precision = precision.reshape(rows, -1, m.num_images, m.num_classes)
    valid = precision > -1
    with np.errstate(invalid="ignore"):
        return np.where(valid, precision, 0).sum(axis=(0, 1, 3)) / valid.sum(axis=(0, 1, 3))


def breakdown(m: ErrorMatching, iou_thr: float) -> dict[str, dict[str, float]]:
    """``coco_error_analysis``'s APs (all areas) from these matches, per class and for
    ``'allclass'``: ``C`` (AP at ``iou_thr``: its ``C75``/``C50``), ``Loc``, ``Sim``,
    ``Oth``, ``BG`` and ``FN``; classes without ground truth count 0, as there."""
    t = m.threshold_index(iou_thr)
    loose = (m.det_match[0] >= 0) & ~m.det_ignored[0]
    dtm = np.stack([m.det_match[t] >= 0, m.det_match[0] >= 0, loose, loose])
    dtig = np.stack(
        [
            m.det_ignored[t],
            m.det_ignored[0],
            m.det_ignored[0] | (~loose & m.det_sim),
            m.det_ignored[0] | (~loose & m.det_oth),
        ]
    )
    entries = [
        _entry(m, k, i, dtm, dtig) for k in range(m.num_classes) for i in range(m.num_images)
    ]
    precision = np.maximum(_accumulate(entries, m.num_classes, 4), 0)  # [4, R, K]
    curves = np.concatenate(
        [precision, precision[3:4] > 0, np.ones_like(precision[:1])]
    )  # + BG, FN
    names = ("C", "Loc", "Sim", "Oth", "BG", "FN")
    table = {
        cls: {n: float(curves[j, :, k].mean()) for j, n in enumerate(names)}
        for k, cls in enumerate(m.class_names)
    }
    table["allclass"] = {n: float(curves[j].mean()) for j, n in enumerate(names)}
    return table
