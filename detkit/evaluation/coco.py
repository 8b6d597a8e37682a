"""COCO bbox / segm / proposal evaluation with pycocotools (MMDetection v2
``CocoDataset.evaluate`` semantics, reference section 8.2).

Results are dumped to ``<prefix>.bbox.json`` / ``<prefix>.segm.json`` (a temporary dir when
no ``jsonfile_prefix`` is given) and loaded into ``COCOeval`` with ``catIds = cat_ids``,
``imgIds = img_ids``, ``maxDets = [100, 300, 1000]`` and IoU thresholds 0.50:0.95 (annotation
ids are shifted to start at 1 first: pycocotools never matches an annotation with id 0). For segm
the ``bbox`` key is removed first, so small/medium/large use the mask area. Returned keys
are ``<metric>_mAP``, ``_mAP_50``, ``_mAP_75``, ``_mAP_s``, ``_mAP_m``, ``_mAP_l`` (rounded
to 4 decimals) and ``<metric>_mAP_copypaste``; pycocotools' 12-number table is printed per
metric, and a per-class AP table with ``classwise=True``.

Backends (``backend=``, from a config's ``evaluation.backend`` or ``--eval-options
backend=...``): ``'pycocotools'`` (the default and the reference) or ``'faster_coco_eval'``
(the ``faster-coco-eval`` package: the same COCOeval semantics with the per-image matching
and the accumulation in C++; every metric equal to pycocotools' to 1e-4, tested;
``python bench/eval.py`` measures both). The ground truth, the results and the parameters
given to either are the same.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.coco_format import results2json
from detkit.evaluation.log import LoggerLike, print_log

__all__ = [
    "COCO_BACKENDS",
    "COCO_METRICS",
    "load_coco",
    "renumber_annotations_from_one",
    "format_coco_results",
    "evaluate_coco",
    "classwise_ap",
    "classwise_table",
]

COCO_METRICS = ("bbox", "segm", "proposal")
COCO_BACKENDS = ("pycocotools", "faster_coco_eval")
# name -> index in COCOeval.stats
COCO_STAT_INDEX = {
    "mAP": 0,
    "mAP_50": 1,
    "mAP_75": 2,
    "mAP_s": 3,
    "mAP_m": 4,
    "mAP_l": 5,
    "AR@100": 6,
    "AR@300": 7,
    "AR@1000": 8,
    "AR_s@1000": 9,
    "AR_m@1000": 10,
    "AR_l@1000": 11,
}
_DEFAULT_ITEMS = {
    "bbox": ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"),
    "segm": ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"),
    "proposal": ("AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"),
}


def load_coco(ann_file: str) -> COCO:
    """Load a COCO annotation file without pycocotools' progress prints.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
    """
    if not os.path.isfile(ann_file):
        raise FileNotFoundError(f"annotation file not found: {ann_file}")
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(ann_file)


def renumber_annotations_from_one(coco_gt: COCO) -> COCO:
    """``coco_gt``, or a re-indexed copy whose annotation ids start at 1.

    ``COCOeval.accumulate`` uses the matched ground-truth id as a truth value, so a detection
    matched to annotation id 0 counts as a false positive. MMDetection's Cityscapes converter
    numbers annotations from 0; shifting every id keeps all else unchanged.
    """
    annotations = coco_gt.dataset.get("annotations", [])
    if not annotations or min(ann["id"] for ann in annotations) > 0:
        return coco_gt
    shift = 1 - min(ann["id"] for ann in annotations)
    renumbered = COCO()
    renumbered.dataset = dict(
        coco_gt.dataset, annotations=[dict(ann, id=ann["id"] + shift) for ann in annotations]
    )
    with contextlib.redirect_stdout(io.StringIO()):
        renumbered.createIndex()
    return renumbered


def format_coco_results(
    results: Sequence[Any],
    img_ids: Sequence[int],
    cat_ids: Sequence[int],
    jsonfile_prefix: str | None = None,
) -> tuple[dict[str, str], tempfile.TemporaryDirectory | None]:
    """Write the COCO json files; returns ``({metric: path}, tmp_dir)``.

    ``tmp_dir`` is the temporary directory holding the files when ``jsonfile_prefix`` is
    None (call ``tmp_dir.cleanup()`` when done), else None.
    """
    tmp_dir = None
    if jsonfile_prefix is None:
        tmp_dir = tempfile.TemporaryDirectory()
        jsonfile_prefix = os.path.join(tmp_dir.name, "results")
    return results2json(results, img_ids, cat_ids, jsonfile_prefix), tmp_dir


def _cocoeval(coco_gt: COCO, predictions: list[dict[str, Any]], iou_type: str, backend: str) -> Any:
    """A ``COCOeval`` of ``backend`` on ``coco_gt``'s annotations and ``predictions``."""
    if backend == "pycocotools":
        return COCOeval(coco_gt, coco_gt.loadRes(predictions), iou_type)
    try:
        import faster_coco_eval
    except ImportError as exc:
        raise ImportError(
            "evaluation backend 'faster_coco_eval' needs the faster-coco-eval package "
            "(pip install faster-coco-eval)"
        ) from exc
    gt = faster_coco_eval.COCO(coco_gt.dataset)
    return faster_coco_eval.COCOeval_faster(
        gt, gt.loadRes(predictions), iou_type, print_function=print
    )


def _summarize_as_pycocotools(coco_eval: Any) -> np.ndarray:
    """The 12 stats of pycocotools' ``COCOeval.summarize`` (its table printed) from a
    faster-coco-eval ``COCOeval_faster``, whose own summary takes the AP at the largest
    ``maxDets`` (1000 here) where pycocotools takes it at 100 (for the first stat)."""
    max_dets = list(coco_eval.params.maxDets)

    def stat(ap: int, max_det: int, **kwargs: Any) -> float:
        if max_det not in max_dets:  # pycocotools: an empty selection, -1
            return -1.0
        return float(coco_eval._summarize(ap, maxDets=max_det, **kwargs))

    last = max_dets[2] if len(max_dets) > 2 else max_dets[-1]
    return np.asarray(
        [
            stat(1, 100),
            stat(1, last, iouThr=0.5),
            stat(1, last, iouThr=0.75),
            *(stat(1, last, areaRng=area) for area in ("small", "medium", "large")),
            *(stat(0, m) for m in max_dets[:3]),
            *(stat(0, last, areaRng=area) for area in ("small", "medium", "large")),
        ]
    )


def classwise_ap(coco_eval: COCOeval, coco_gt: COCO, cat_ids: Sequence[int]) -> dict[str, float]:
    """Per-category AP (IoU 0.50:0.95, all areas, largest maxDets) by category name
    (nan for a category without ground truth)."""
    precisions = coco_eval.eval["precision"]  # [iou, recall, cls, area, maxdets]
    if precisions.shape[2] != len(cat_ids):
        raise ValueError(f"COCOeval has {precisions.shape[2]} categories, expected {len(cat_ids)}")
    per_class: dict[str, float] = {}
    for idx, cat_id in enumerate(cat_ids):
        precision = precisions[:, :, idx, 0, -1]
        precision = precision[precision > -1]
        ap = float(np.mean(precision)) if precision.size else float("nan")
        per_class[coco_gt.loadCats(cat_id)[0]["name"]] = ap
    return per_class


def classwise_table(per_class: dict[str, float]) -> str:
    """Text table of ``{category: AP}``, three categories per row."""
    cells = [(name, f"{ap:0.3f}") for name, ap in per_class.items()]
    pairs_per_row = min(3, len(cells))
    width = max(len("category"), *(len(name) for name, _ in cells))
    header = " | ".join([f"{'category':<{width}} | {'AP':>5}"] * pairs_per_row)
    lines = [header, "-" * len(header)]
    for start in range(0, len(cells), pairs_per_row):
        row = cells[start : start + pairs_per_row]
        lines.append(" | ".join(f"{name:<{width}} | {ap:>5}" for name, ap in row))
    return "\n".join(lines)


def _check_metrics(metric: str | Sequence[str]) -> list[str]:
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for name in metrics:
        if name not in COCO_METRICS:
            raise KeyError(f"metric {name!r} is not supported; choose from {COCO_METRICS}")
    return metrics


def evaluate_coco(
    results: Sequence[Any],
    coco: COCO | str,
    metric: str | Sequence[str] = "bbox",
    cat_ids: Sequence[int] | None = None,
    img_ids: Sequence[int] | None = None,
    logger: LoggerLike = None,
    jsonfile_prefix: str | None = None,
    classwise: bool = False,
    proposal_nums: Sequence[int] = (100, 300, 1000),
    iou_thrs: Sequence[float] | None = None,
    metric_items: Sequence[str] | None = None,
    backend: str = "pycocotools",
) -> dict[str, float | str]:
    """Evaluate ``results`` (one per image, in ``img_ids`` order) against ``coco``.

    Args:
        results: MMDetection v2 test results (see :mod:`detkit.evaluation.coco_format`).
        coco: the ground truth, a ``COCO`` object or the path of its annotation file.
        metric: ``'bbox'``, ``'segm'``, ``'proposal'`` or a list of them.
        cat_ids: category id of each label (default: all categories of ``coco``, in file order).
        img_ids: image id of each result (default: ``coco.getImgIds()``).
        logger: where the tables go (None prints, see :func:`print_log`).
        jsonfile_prefix: keep the result json files at ``<prefix>.<metric>.json``.
        classwise: also print the per-category AP table and return it as
            ``<metric>_AP_<category name>`` entries (categories with ground truth only).
        proposal_nums: COCOeval ``maxDets``.
        iou_thrs: IoU thresholds (default 0.50:0.95 step 0.05).
        metric_items: names from ``COCO_STAT_INDEX`` to return (default: the six mAPs, or
            the six ARs for proposals).
        backend: ``'pycocotools'`` or ``'faster_coco_eval'`` (see the module docstring).

    Returns:
        ``{'bbox_mAP': 0.512, ..., 'bbox_mAP_copypaste': '0.512 0.801 ...'}``.

    Raises:
        ValueError: the annotation file has no annotations (a test split: use
            ``--format-only``), or results and images do not match.
    """
    metrics = _check_metrics(metric)
    if backend not in COCO_BACKENDS:
        raise ValueError(f"evaluation backend {backend!r} is not one of {COCO_BACKENDS}")
    ann_file = coco if isinstance(coco, str) else "the annotation file"
    coco_gt = load_coco(coco) if isinstance(coco, str) else coco
    if not coco_gt.dataset.get("annotations"):  # the converter drops the key when empty
        raise ValueError(f"{ann_file} has no annotations; use --format-only")
    coco_gt = renumber_annotations_from_one(coco_gt)
    cat_ids = list(coco_gt.getCatIds()) if cat_ids is None else list(cat_ids)
    img_ids = list(coco_gt.getImgIds()) if img_ids is None else list(img_ids)
    thresholds = np.linspace(0.5, 0.95, 10) if iou_thrs is None else np.asarray(iou_thrs)

    result_files, tmp_dir = format_coco_results(results, img_ids, cat_ids, jsonfile_prefix)
    eval_results: dict[str, float | str] = {}
    try:
        for name in metrics:
            print_log(f"Evaluating {name}...", logger)
            items = list(metric_items) if metric_items is not None else list(_DEFAULT_ITEMS[name])
            for item in items:
                if item not in COCO_STAT_INDEX:
                    raise KeyError(f"metric item {item!r} is not one of {list(COCO_STAT_INDEX)}")
            if name not in result_files:
                raise KeyError(f"metric {name!r} needs {name} results, got {sorted(result_files)}")
            with open(result_files[name]) as f:
                predictions = json.load(f)
            stats, per_class = _run_cocoeval(
                coco_gt,
                predictions,
                name,
                cat_ids,
                img_ids,
                proposal_nums,
                thresholds,
                classwise,
                logger,
                backend,
            )
            prefix = "" if name == "proposal" else f"{name}_"
            for item in items:
                eval_results[f"{prefix}{item}"] = round(float(stats[COCO_STAT_INDEX[item]]), 4)
            if name != "proposal":
                eval_results[f"{name}_mAP_copypaste"] = " ".join(f"{v:.3f}" for v in stats[:6])
            for category, ap in per_class.items():
                if not np.isnan(ap):  # categories without ground truth have no AP
                    eval_results[f"{name}_AP_{category}"] = round(ap, 4)
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()
    return eval_results


def _run_cocoeval(
    coco_gt: COCO,
    predictions: list[dict[str, Any]],
    metric: str,
    cat_ids: list[int],
    img_ids: list[int],
    proposal_nums: Sequence[int],
    iou_thrs: np.ndarray,
    classwise: bool,
    logger: LoggerLike,
    backend: str = "pycocotools",
) -> tuple[np.ndarray, dict[str, float]]:
    """Run COCOeval on ``predictions``; returns the 12 summary stats (zeros when empty) and
    the per-category AP (only with ``classwise``)."""
    if len(predictions) == 0:
        print_log(
            f"{metric}: the testing results of the whole dataset are empty (no detection "
            "in any image); reporting 0.0",
            logger,
        )
        return np.zeros(12), {}
    iou_type = "bbox" if metric == "proposal" else metric
    if metric == "segm":  # new dicts without the box (the masks are shared, not copied)
        predictions = [{k: v for k, v in p.items() if k != "bbox"} for p in predictions]
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        coco_eval = _cocoeval(coco_gt, predictions, iou_type, backend)
        coco_eval.params.catIds = cat_ids
        coco_eval.params.imgIds = img_ids
        coco_eval.params.maxDets = list(proposal_nums)
        coco_eval.params.iouThrs = iou_thrs
        if metric == "proposal":
            coco_eval.params.useCats = 0
        coco_eval.evaluate()
        coco_eval.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        if backend == "pycocotools":
            coco_eval.summarize()
        else:
            coco_eval.stats = _summarize_as_pycocotools(coco_eval)
    print_log("\n" + table.getvalue(), logger)
    per_class: dict[str, float] = {}
    if classwise and metric != "proposal":
        per_class = classwise_ap(coco_eval, coco_gt, cat_ids)
        print_log("\n" + classwise_table(per_class), logger)
    return np.asarray(coco_eval.stats), per_class
