"""A result set with its COCO ground truth for interactive error analysis: the matching is
computed once per IoU type, everything derived from it is cached, and images and detections
are read only for the image asked for.

    errors = ErrorAnalysis.from_config("configs/x.py", "results.pkl", split="test")
    view = errors.classified("bbox", iou_thr=0.5, score_thr=0.3)
    order, counts = errors.ranking(view, "localisation", label=2)

Results are MMDetection v2's (``tools/test.py --out``, ``detkit.evaluate_detector(out=...)``,
``detkit.single_gpu_test`` of an eager or ONNX Runtime detector), one per image of the split
in dataset order.
"""

from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pycocotools.coco import COCO

from detkit.analysis.coco_error_counts import (
    DET_KINDS,
    ERROR_KINDS,
    Classified,
    breakdown,
    class_table,
    classify,
    confusion_counts,
    image_ap,
)
from detkit.analysis.coco_error_counts import image_counts as count_errors
from detkit.analysis.coco_error_matching import IOU_GRID, ErrorMatching, match_results
from detkit.analysis.common import load_results
from detkit.config import Config
from detkit.engine.testing_setup import build_test_dataset
from detkit.image_io import read_image
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import dense_mask_windows
from detkit.viz.error_panels import PanelInstances

__all__ = ["ErrorAnalysis", "browse_errors"]

_CACHED_VIEWS = 8  # classified views kept (score/IoU threshold pairs)


class ErrorAnalysis:
    """A result set and its ground truth, matched once per IoU type.

    ``ERROR_KINDS`` (what :meth:`ranking` filters by) and ``IOU_THRESHOLDS`` (the thresholds
    matched) are what a browser offers.

    Args:
    results: one MMDetection v2 result per image (or the pickle holding them).
    coco_gt: the split's ground truth.
    img_ids: the image id of each result.
    cat_ids: the category id of each label.
    class_names: the name of each label.
    image_paths: the image file of each result.
    """

    ERROR_KINDS = ("per-image AP", *ERROR_KINDS)
    IOU_THRESHOLDS = tuple(float(t) for t in IOU_GRID)

    def __init__(
        self,
        results: Sequence[Any] | str,
        coco_gt: COCO,
        img_ids: Sequence[int],
        cat_ids: Sequence[int],
        class_names: Sequence[str],
        image_paths: Sequence[str],
    ) -> None:
        self.results = load_results(results) if isinstance(results, str) else list(results)
        if not len(self.results) == len(img_ids) == len(image_paths):
            raise ValueError(
                f"{len(self.results)} results, {len(img_ids)} images and {len(image_paths)} "
                "image files: results must be one per image of the split, in dataset order"
            )
        if len(cat_ids) != len(class_names):
            raise ValueError(f"{len(cat_ids)} category ids for {len(class_names)} class names")
        self.coco_gt = coco_gt
        self.img_ids = list(img_ids)
        self.cat_ids = list(cat_ids)
        self.class_names = tuple(class_names)
        self.image_paths = list(image_paths)
        self.has_masks = bool(self.results) and isinstance(self.results[0], tuple)
        self._matchings: dict[str, ErrorMatching] = {}
        self._views: OrderedDict[tuple[str, float, float], Classified] = OrderedDict()
        self._image_ap: dict[str, np.ndarray] = {}
        self._breakdowns: dict[tuple[str, float], dict[str, dict[str, float]]] = {}
        self.detections: Callable[[int], DetectionResult] = lru_cache(maxsize=4)(self._detections)

    @classmethod
    def from_dataset(cls, dataset: Any, results: Sequence[Any] | str) -> ErrorAnalysis:
        """From a built COCO-style dataset (``coco``, ``img_ids``, ``cat_ids``, ``CLASSES``,
        ``data_infos``, ``img_prefix``)."""
        for name in ("coco", "img_ids", "cat_ids", "data_infos"):
            if not hasattr(dataset, name):
                raise TypeError(
                    f"{type(dataset).__name__} has no {name!r}: error analysis needs a "
                    "COCO-style dataset (CocoDataset, CityscapesDataset)"
                )
        prefix = getattr(dataset, "img_prefix", "") or ""
        paths = [osp.join(prefix, info["filename"]) for info in dataset.data_infos]
        return cls(results, dataset.coco, dataset.img_ids, dataset.cat_ids, dataset.CLASSES, paths)

    @classmethod
    def from_config(
        cls,
        config: Any,
        results: Sequence[Any] | str,
        split: Literal["val", "test"] = "test",
        cfg_options: Mapping[str, Any] | None = None,
    ) -> ErrorAnalysis:
        """From a config (path or ``Config``) and its ``cfg.data[split]``, as the analysis
        tools load them.

        Raises:
            KeyError: the config has no such split.
        """
        cfg = Config.load(config, cfg_options)
        return cls.from_dataset(build_test_dataset(cfg, split), results)

    # -- cached computations ---------------------------------------------------------------
    def iou_types(self) -> list[str]:
        """``['bbox', 'segm']`` for results with masks, else ``['bbox']``."""
        return ["bbox", "segm"] if self.has_masks else ["bbox"]

    def matching(self, iou_type: str = "bbox") -> ErrorMatching:
        """The matching at every IoU threshold (computed on first use)."""
        if iou_type not in self.iou_types():
            raise ValueError(f"iou_type {iou_type!r} is not one of {self.iou_types()}")
        if iou_type not in self._matchings:
            self._matchings[iou_type] = match_results(
                self.results, self.coco_gt, self.img_ids, self.cat_ids, iou_type, self.class_names
            )
        return self._matchings[iou_type]

    def classified(self, iou_type: str, iou_thr: float, score_thr: float) -> Classified:
        """Kinds at ``iou_thr``/``score_thr`` (the last few kept)."""
        key = (iou_type, float(iou_thr), float(score_thr))
        if key not in self._views:
            self._views[key] = classify(self.matching(iou_type), iou_thr, score_thr)
            while len(self._views) > _CACHED_VIEWS:
                self._views.popitem(last=False)
        self._views.move_to_end(key)
        return self._views[key]

    def image_ap(self, iou_type: str = "bbox") -> np.ndarray:
        """``[I]`` COCO AP of each image (NaN without ground truth)."""
        if iou_type not in self._image_ap:
            self._image_ap[iou_type] = image_ap(self.matching(iou_type))
        return self._image_ap[iou_type]

    def breakdown(self, iou_type: str, iou_thr: float) -> dict[str, dict[str, float]]:
        """``coco_error_analysis``'s APs at ``iou_thr`` per class and ``'allclass'``."""
        key = (iou_type, float(iou_thr))
        if key not in self._breakdowns:
            self._breakdowns[key] = breakdown(self.matching(iou_type), iou_thr)
        return self._breakdowns[key]

    def ranking(
        self,
        view: Classified,
        error: str,
        label: int | None = None,
        confused_with: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(order, counts)``: the images with at least one error of kind ``error`` (of
        class ``label``; confused with class ``confused_with``), most errors first, then
        lowest AP; ``error='per-image AP'`` orders every image by AP (lowest first, those
        without ground truth last)."""
        ap = self.image_ap(view.matching.iou_type)
        ap_key = np.where(np.isnan(ap), np.inf, ap)
        if error == "per-image AP":
            counts = count_errors(view, "any error", label)
            return np.lexsort((-counts, ap_key)), counts
        counts = count_errors(view, error, label, confused_with)
        order = np.lexsort((ap_key, -counts))
        return order[counts[order] > 0], counts

    def class_table(self, view: Classified) -> list[dict[str, Any]]:
        """Per-class counts of ``view`` with the AP at its IoU threshold."""
        per_class = self.breakdown(view.matching.iou_type, view.iou_thr)
        ap = np.array([per_class[name]["C"] for name in self.class_names])
        return class_table(view, ap)

    def confusion(self, view: Classified) -> np.ndarray:
        """``[C + 1, C + 1]`` confusion counts of ``view`` (last row background, last column
        missed; see :func:`~detkit.analysis.coco_error_counts.confusion_counts`)."""
        return confusion_counts(view)

    # -- per image -------------------------------------------------------------------------
    def _detections(self, index: int) -> DetectionResult:
        return DetectionResult.from_mmdet(self.results[index])

    def image_name(self, index: int) -> str:
        return osp.basename(self.image_paths[index])

    def panels(
        self, view: Classified, index: int
    ) -> tuple[np.ndarray, PanelInstances, PanelInstances]:
        """Image ``index`` (HWC uint8 RGB) with its ground truth and its detections scoring
        >= the view's threshold, each with its kind, pair number, IoU and mask."""
        m, t = view.matching, view.t
        gt_rows = np.flatnonzero(m.gt_image == index)
        det_rows = np.flatnonzero((m.det_image == index) & (view.kind >= 0))
        hit = view.gt_hit[gt_rows]
        paired = (hit >= 0) & ~m.gt_crowd[gt_rows]
        gt_pairs = np.where(paired, np.cumsum(paired), 0)
        det_pairs = np.zeros(len(det_rows), np.int64)
        position = {int(d): n for n, d in enumerate(det_rows)}
        for g, pair in zip(hit[paired], gt_pairs[paired]):
            det_pairs[position[int(g)]] = pair
        gt_kinds = [
            "crowd" if crowd else "miss" if missed else "matched"
            for crowd, missed in zip(m.gt_crowd[gt_rows], view.gt_missed[gt_rows])
        ]
        kinds = [DET_KINDS[k] for k in view.kind[det_rows]]
        best = np.where(m.det_best_iou[det_rows] > 0, m.det_best_iou[det_rows], np.nan)
        overlaps = np.select(
            [
                np.isin(kinds, ["tp", "ignored"]),
                np.isin(kinds, ["sim", "oth"]),
            ],
            [m.det_iou[t, det_rows], m.det_confused_ioa[det_rows]],
            best,
        )
        confused = (
            np.where(
                m.det_confused[det_rows] >= 0,
                m.gt_label[np.maximum(m.det_confused[det_rows], 0)],
                -1,
            )
            if len(m.gt_label)
            else np.full(len(det_rows), -1)
        )
        result = self.detections(index)
        det_masks: Any = ()
        if result.masks is not None and (m.det_row[det_rows] >= 0).all():
            det_masks = result[m.det_row[det_rows]].iter_mask_windows()
        anns = [self.coco_gt.anns[int(a)] for a in m.gt_ann_id[gt_rows]]
        gt_masks: Any = ()
        if anns and all(a.get("segmentation") for a in anns):
            gt_masks = dense_mask_windows(self.coco_gt.annToMask(a) for a in anns)
        image = read_image(self.image_paths[index], channel_order="rgb")
        ground_truth = PanelInstances(
            m.gt_box[gt_rows], m.gt_label[gt_rows], gt_kinds, gt_pairs, masks=gt_masks
        )
        detections = PanelInstances(
            m.det_box[det_rows],
            m.det_label[det_rows],
            kinds,
            det_pairs,
            scores=m.det_score[det_rows],
            overlaps=overlaps,
            confused=confused,
            masks=det_masks,
        )
        return image, ground_truth, detections


def browse_errors(
    config: Any,
    results: Sequence[Any] | str,
    split: Literal["val", "test"] = "test",
    cfg_options: Mapping[str, Any] | None = None,
    score_thr: float = 0.3,
    iou_thr: float = 0.5,
) -> Any:
    """The error browser (:class:`detkit.viz.ErrorBrowser`) of ``results`` on
    ``cfg.data[split]`` of ``config``; display its ``widget``."""
    from detkit.viz.error_browser import ErrorBrowser

    errors = ErrorAnalysis.from_config(config, results, split, cfg_options)
    return ErrorBrowser(errors, score_thr=score_thr, iou_thr=iou_thr)
