"""Per-detection and per-ground-truth matching of a result set, at every IoU threshold at once:
the data behind the error browser (:mod:`detkit.viz.error_browser`) and the per-image form of
``coco_error_analysis``'s breakdown (:mod:`detkit.analysis.coco_errors`).

The matching is COCOeval's (:func:`~detkit.analysis.coco_errors.run_cocoeval`: greedy by
score, ``maxDets = 100`` per image and class, crowd regions matched by intersection over the
detection's area), run once over the thresholds ``IOU_GRID`` (0.10, 0.15, ..., 0.95). On top
of it every detection gets what ``coco_error_analysis`` forgives it for:

- ``match[t]``/``ignored[t]``: the ground truth it matched at ``IOU_GRID[t]`` (a crowd region:
  ``ignored``), as COCOeval (``C75``/``C50`` at 0.75/0.5, ``Loc`` at 0.10);
- ``sim``/``oth``: it covers (intersection over its area >= 0.10, the tool's crowd rule) a
  ground truth of another class of its supercategory / of any other class: the tool turns
  those into crowd regions of the detection's class for its ``Sim``/``Oth`` curves;
- ``duplicate[t]``: unmatched at ``t`` but with IoU >= ``t`` to a ground truth of its class
  that a higher-scoring detection matched.

Rows are flat: detections in COCOeval's order (class, then image in ``img_ids`` order, then
score descending), ground truth in the order of the annotation file per image and class.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

from detkit.analysis.coco_errors import run_cocoeval
from detkit.evaluation.coco import renumber_annotations_from_one
from detkit.evaluation.coco_format import det2json, segm2json

__all__ = ["IOU_GRID", "CONFUSION_IOA", "ErrorMatching", "match_detections", "match_results"]

IOU_GRID = np.round(np.arange(0.10, 0.951, 0.05), 2)  # [T]; index 0 is the tool's Loc 0.10
CONFUSION_IOA = 0.10  # coco_error_analysis's forgiving threshold (Loc, Sim, Oth)
_ALL_AREAS = [[0.0, 1e10]]  # the tool's "allarea"


@dataclass
class ErrorMatching:
    """Matching of one result set against its COCO ground truth (``iou_type`` boxes or masks).

    Detection arrays (``D`` rows): ``det_image`` (image index in ``img_ids``), ``det_label``
    (0-based class), ``det_score``, ``det_row`` (row in the image's
    ``DetectionResult.from_mmdet``, -1 when unknown), ``det_box`` ``[D, 4]`` xyxy pixels,
    ``det_match`` ``[T, D]`` (matched ground-truth row, -1 none), ``det_ignored`` ``[T, D]``
    (matched a crowd region), ``det_iou`` ``[T, D]`` (IoU with the matched ground truth),
    ``det_best_iou`` (highest IoU with a non-crowd ground truth of its class),
    ``det_duplicate`` ``[T, D]``, ``det_sim``/``det_oth`` (bool), ``det_confused`` (the
    other-class ground-truth row it covers most, -1 none) and ``det_confused_ioa``.

    Ground-truth arrays (``G`` rows): ``gt_image``, ``gt_label``, ``gt_ann_id`` (the file's
    annotation id), ``gt_box`` ``[G, 4]`` xyxy, ``gt_crowd`` (crowd/ignored: never a miss),
    ``gt_match`` ``[T, G]`` (detection row, -1 none).

    ``groups`` ``[K, I, 2]``: the detection rows ``[start, end)`` of class ``k`` in image
    ``i``; ``gt_groups`` likewise for ground truth.
    """

    iou_type: str
    class_names: tuple[str, ...]
    cat_ids: tuple[int, ...]
    img_ids: tuple[int, ...]
    det_image: np.ndarray
    det_label: np.ndarray
    det_score: np.ndarray
    det_row: np.ndarray
    det_box: np.ndarray
    det_match: np.ndarray
    det_ignored: np.ndarray
    det_iou: np.ndarray
    det_best_iou: np.ndarray
    det_duplicate: np.ndarray
    det_sim: np.ndarray
    det_oth: np.ndarray
    det_confused: np.ndarray
    det_confused_ioa: np.ndarray
    gt_image: np.ndarray
    gt_label: np.ndarray
    gt_ann_id: np.ndarray
    gt_box: np.ndarray
    gt_crowd: np.ndarray
    gt_match: np.ndarray
    groups: np.ndarray
    gt_groups: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.img_ids)

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)

    def threshold_index(self, iou_thr: float) -> int:
        """The row of ``IOU_GRID`` equal to ``iou_thr``.

        Raises:
            ValueError: ``iou_thr`` is not on the grid.
        """
        index = int(np.argmin(np.abs(IOU_GRID - iou_thr)))
        if abs(IOU_GRID[index] - iou_thr) > 1e-6:
            raise ValueError(
                f"IoU threshold {iou_thr} is not one of {IOU_GRID.tolist()} (matched once, cached)"
            )
        return index


def _xyxy(xywh: Sequence[float]) -> list[float]:
    x, y, w, h = xywh
    return [x, y, x + w, y + h]


def _geometry(anns: Sequence[dict[str, Any]], iou_type: str) -> list[Any]:
    return [a["segmentation"] if iou_type == "segm" else a["bbox"] for a in anns]


class _Builder:
    """Collects the flat rows from an evaluated ``COCOeval``."""

    def __init__(self, evaluator: Any, cat_ids: Sequence[int], img_ids: Sequence[int]) -> None:
        self.ev = evaluator
        self.cat_ids = list(cat_ids)
        self.img_ids = list(img_ids)
        self.det: dict[str, list[Any]] = {k: [] for k in ("image", "label", "score", "row", "box")}
        self.det_match: list[np.ndarray] = []
        self.det_ignored: list[np.ndarray] = []
        self.det_iou: list[np.ndarray] = []
        self.det_best_iou: list[np.ndarray] = []
        self.det_duplicate: list[np.ndarray] = []
        self.gt: dict[str, list[Any]] = {
            k: [] for k in ("image", "label", "ann_id", "box", "crowd")
        }
        self.gt_match: list[np.ndarray] = []
        self.det_ann: list[dict[str, Any]] = []
        self.gt_ann: list[dict[str, Any]] = []

    def add(self, k: int, i: int, evaluated: dict[str, Any] | None) -> tuple[int, int, int, int]:
        """Rows of class ``k`` in image ``i``; returns the det and gt row ranges."""
        d0, g0 = len(self.det["image"]), len(self.gt["image"])
        key = (self.img_ids[i], self.cat_ids[k])
        gts = self.ev._gts[key]
        if evaluated is None:  # neither ground truth nor detections
            return d0, d0, g0, g0
        by_gt_id = {g["id"]: g0 + j for j, g in enumerate(gts)}
        for g in gts:
            self.gt["image"].append(i)
            self.gt["label"].append(k)
            self.gt["ann_id"].append(g["id"])
            self.gt["box"].append(_xyxy(g["bbox"]))
            self.gt["crowd"].append(bool(g["ignore"]))
            self.gt_ann.append(g)
        dts = {d["id"]: d for d in self.ev._dts[key]}
        dt_ids = list(evaluated["dtIds"])
        by_dt_id = {dt_id: d0 + n for n, dt_id in enumerate(dt_ids)}
        num_t = len(self.ev.params.iouThrs)
        # COCOeval's IoU matrix: rows = detections by score (the order of dtIds), columns =
        # ground truth in _gts order
        ious = np.asarray(self.ev.ious[key]).reshape(len(dt_ids), len(gts))
        crowd = np.array([bool(g["iscrowd"]) for g in gts], bool)
        ignore = np.array([bool(g["ignore"]) for g in gts], bool)
        dt_matches = np.asarray(evaluated["dtMatches"]).reshape(num_t, len(dt_ids))
        match = np.full((num_t, len(dt_ids)), -1, np.int64)
        match_iou = np.zeros((num_t, len(dt_ids)))
        for t in range(num_t):
            for n, gt_id in enumerate(dt_matches[t]):
                if gt_id:
                    match[t, n] = by_gt_id[int(gt_id)]
                    match_iou[t, n] = ious[n, match[t, n] - g0]
        gt_matches = np.asarray(evaluated["gtMatches"]).reshape(num_t, -1)
        gt_order = [by_gt_id[g] for g in evaluated["gtIds"]]
        gt_match = np.full((num_t, len(gts)), -1, np.int64)
        for t in range(num_t):
            for n, dt_id in enumerate(gt_matches[t]):
                if dt_id:
                    gt_match[t, gt_order[n] - g0] = by_dt_id[int(dt_id)]
        regular = ~crowd & ~ignore
        plain_iou = np.where(regular[None, :], ious, 0.0) if len(gts) else ious
        thrs = np.asarray(self.ev.params.iouThrs)
        # a duplicate: unmatched, IoU >= t with a regular ground truth another detection matched
        taken = (gt_match >= 0) & regular[None, :]  # [T, G]
        covers = plain_iou[None, :, :] >= np.minimum(thrs, 1 - 1e-10)[:, None, None]  # [T, D, G]
        duplicate = (covers & taken[:, None, :]).any(axis=2) & (match < 0)
        for dt_id in dt_ids:
            d = dts[dt_id]
            self.det["image"].append(i)
            self.det["label"].append(k)
            self.det["score"].append(float(d["score"]))
            self.det["row"].append(int(d.get("_row", -1)))
            self.det["box"].append(_xyxy(d["bbox"]))
            self.det_ann.append(d)
        ignored = np.asarray(evaluated["dtIgnore"], bool).reshape(num_t, len(dt_ids))
        self.det_match.append(match)
        self.det_ignored.append(ignored & (match >= 0))
        self.det_iou.append(match_iou)
        self.det_best_iou.append(plain_iou.max(axis=1) if len(gts) else np.zeros(len(dt_ids)))
        self.det_duplicate.append(duplicate)
        self.gt_match.append(gt_match)
        return d0, len(self.det["image"]), g0, len(self.gt["image"])


def _confusions(
    b: _Builder, iou_type: str, supercategory: dict[int, str | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per detection: covers a ground truth of another class of its supercategory (``sim``),
    of any other class (``oth``); the most covered one (row, -1 none) and its coverage."""
    num_d = len(b.det_ann)
    sim, oth = np.zeros(num_d, bool), np.zeros(num_d, bool)
    confused, confused_ioa = np.full(num_d, -1, np.int64), np.zeros(num_d)
    det_image, gt_image = np.asarray(b.det["image"]), np.asarray(b.gt["image"])
    det_label, gt_label = np.asarray(b.det["label"]), np.asarray(b.gt["label"])
    super_of = np.array([supercategory.get(c) for c in b.cat_ids], object)
    for i in np.unique(det_image):
        drows, grows = np.flatnonzero(det_image == i), np.flatnonzero(gt_image == i)
        if len(grows) == 0:
            continue
        ioa: np.ndarray = np.asarray(
            mask_util.iou(
                _geometry([b.det_ann[r] for r in drows], iou_type),
                _geometry([b.gt_ann[r] for r in grows], iou_type),
                [1] * len(grows),
            )
        ).reshape(len(drows), len(grows))
        other = det_label[drows][:, None] != gt_label[grows][None, :]
        ioa = np.where(other, ioa, 0.0)
        hit = ioa >= CONFUSION_IOA
        same_super = (super_of[det_label[drows]][:, None] == super_of[gt_label[grows]][None, :]) & (
            super_of[det_label[drows]][:, None] != None  # noqa: E711 (element-wise)
        )
        oth[drows] = hit.any(axis=1)
        sim[drows] = (hit & same_super).any(axis=1)
        best = ioa.argmax(axis=1)
        best_ioa = ioa[np.arange(len(drows)), best]
        confused[drows] = np.where(best_ioa >= CONFUSION_IOA, grows[best], -1)
        confused_ioa[drows] = best_ioa
    return sim, oth, confused, confused_ioa


def _stack(parts: list[np.ndarray], rows: int, dtype: Any) -> np.ndarray:
    num_t = len(IOU_GRID)
    return np.concatenate(parts, axis=-1).astype(dtype) if parts else np.zeros((num_t, rows), dtype)


def match_detections(
    coco_gt: COCO,
    detections: list[dict[str, Any]],
    img_ids: Sequence[int],
    cat_ids: Sequence[int],
    iou_type: str = "bbox",
    class_names: Sequence[str] | None = None,
) -> ErrorMatching:
    """Match COCO result entries (``image_id``, ``category_id``, ``bbox`` xywh, ``score``,
    ``segmentation`` for ``'segm'``; an optional ``_row`` names the detection's row in its
    image's ``DetectionResult``) against ``coco_gt`` at every threshold of ``IOU_GRID``.

    Raises:
        ValueError: ``iou_type`` is not ``'bbox'``/``'segm'``, or an entry names an image or
        class outside ``img_ids``/``cat_ids``.
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    img_set, cat_set = set(img_ids), set(cat_ids)
    for entry in detections:
        if entry["image_id"] not in img_set or entry["category_id"] not in cat_set:
            raise ValueError(
                f"detection of image {entry['image_id']}, category {entry['category_id']} is "
                f"outside the {len(img_set)} images / categories {sorted(cat_set)} matched"
            )
    original_ids = [a["id"] for a in coco_gt.dataset.get("annotations", [])]
    coco_gt = renumber_annotations_from_one(coco_gt)  # COCOeval reads match id 0 as none
    file_id = dict(zip((a["id"] for a in coco_gt.dataset.get("annotations", [])), original_ids))
    if detections:
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes([dict(d) for d in detections])
    else:
        coco_dt = COCO()
        coco_dt.dataset = dict(coco_gt.dataset, annotations=[])
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt.createIndex()
    evaluator = run_cocoeval(
        coco_gt, coco_dt, iou_type, IOU_GRID.tolist(), _ALL_AREAS, cat_ids, img_ids
    )
    num_i = len(evaluator.params.imgIds)
    # COCOeval sorts its image ids; index the rows by the caller's order
    position = {img_id: n for n, img_id in enumerate(evaluator.params.imgIds)}
    builder = _Builder(evaluator, cat_ids, img_ids)
    groups = np.zeros((len(cat_ids), len(img_ids), 2), np.int64)
    gt_groups = np.zeros_like(groups)
    cat_index = {c: n for n, c in enumerate(evaluator.params.catIds)}
    for k, cat_id in enumerate(cat_ids):
        for i, img_id in enumerate(img_ids):
            evaluated = evaluator.evalImgs[cat_index[cat_id] * num_i + position[img_id]]
            d0, d1, g0, g1 = builder.add(k, i, evaluated)
            groups[k, i], gt_groups[k, i] = (d0, d1), (g0, g1)
    cats = {c["id"]: c.get("supercategory") for c in coco_gt.loadCats(list(cat_ids))}
    sim, oth, confused, confused_ioa = _confusions(builder, iou_type, cats)
    num_d, num_g = len(builder.det_ann), len(builder.gt_ann)
    names = class_names or [c["name"] for c in coco_gt.loadCats(list(cat_ids))]
    return ErrorMatching(
        iou_type=iou_type,
        class_names=tuple(names),
        cat_ids=tuple(cat_ids),
        img_ids=tuple(img_ids),
        det_image=np.asarray(builder.det["image"], np.int64),
        det_label=np.asarray(builder.det["label"], np.int64),
        det_score=np.asarray(builder.det["score"], np.float64),
        det_row=np.asarray(builder.det["row"], np.int64),
        det_box=np.asarray(builder.det["box"], np.float64).reshape(-1, 4),
        det_match=_stack(builder.det_match, num_d, np.int64),
        det_ignored=_stack(builder.det_ignored, num_d, bool),
        det_iou=_stack(builder.det_iou, num_d, np.float64),
        det_best_iou=np.concatenate(builder.det_best_iou) if num_d else np.zeros(0),
        det_duplicate=_stack(builder.det_duplicate, num_d, bool),
        det_sim=sim,
        det_oth=oth,
        det_confused=confused,
        det_confused_ioa=confused_ioa,
        gt_image=np.asarray(builder.gt["image"], np.int64),
        gt_label=np.asarray(builder.gt["label"], np.int64),
        gt_ann_id=np.asarray([file_id[a] for a in builder.gt["ann_id"]], np.int64),
        gt_box=np.asarray(builder.gt["box"], np.float64).reshape(-1, 4),
        gt_crowd=np.asarray(builder.gt["crowd"], bool),
        gt_match=_stack(builder.gt_match, num_g, np.int64),
        groups=groups,
        gt_groups=gt_groups,
    )


def match_results(
    results: Sequence[Any],
    coco_gt: COCO,
    img_ids: Sequence[int],
    cat_ids: Sequence[int],
    iou_type: str = "bbox",
    class_names: Sequence[str] | None = None,
) -> ErrorMatching:
    """:func:`match_detections` of MMDetection v2 results (one per image of ``img_ids``:
    per-class ``[n, 5]`` arrays, or ``(bbox_results, segm_results)`` with masks for
    ``'segm'``), as ``tools/test.py --out``, ``evaluate_detector(out=...)`` and an
    ONNX Runtime run through ``single_gpu_test`` give them.

    Raises:
        ValueError: ``len(results) != len(img_ids)``, or ``'segm'`` without masks.
    """
    if len(results) != len(img_ids):
        raise ValueError(f"got {len(results)} results for {len(img_ids)} images")
    if iou_type == "segm":
        if not results or not isinstance(results[0], tuple):
            raise ValueError("iou_type 'segm' needs (bbox_results, segm_results) results")
        entries = segm2json(results, img_ids, cat_ids)[1]
    else:
        boxes = [r[0] if isinstance(r, tuple) else r for r in results]
        entries = det2json(boxes, img_ids, cat_ids)
    row: dict[int, int] = {}
    for entry in entries:  # det2json/segm2json write each image's rows in from_mmdet order
        entry["_row"] = row.get(entry["image_id"], 0)
        row[entry["image_id"]] = entry["_row"] + 1
    return match_detections(coco_gt, entries, img_ids, cat_ids, iou_type, class_names)
