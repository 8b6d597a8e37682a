"""COCO error analysis (MMDetection v2 ``tools/analysis_tools/coco_error_analysis.py``; the
breakdown of the COCO API's MATLAB ``analyze()``, which pycocotools' Python package lacks),
restated on ``pycocotools.cocoeval.COCOeval``.

For every class and area range, seven nested precision/recall curves (``maxDets = 100``):

- ``C75``, ``C50``: PR at IoU 0.75 and 0.50; ``Loc``: at IoU 0.10 (localisation errors
  forgiven);
- ``Sim``: at IoU 0.10 with ground truth of the *other classes of the same supercategory*
  turned into crowd regions of this class (confusions with similar classes forgiven);
- ``Oth``: the same with every other class (all class confusions forgiven);
- ``BG``: precision 1 wherever ``Oth`` has any (background false positives forgiven);
- ``FN``: precision 1 everywhere (the remaining area is missed ground truth).

The legend of each plot gives each curve's AP (mean precision over the 101 recall points).
MMDetection's tool computes ``Sim`` without the supercategory step, so there it equals
``Loc``; here it follows the definition. Categories without a ``supercategory`` (the
Cityscapes converter writes none) forgive nothing there, so ``Sim`` equals ``Loc`` for them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.coco import load_coco, renumber_annotations_from_one

__all__ = ["ERROR_TYPES", "AREA_NAMES", "MAX_DETS", "coco_error_analysis", "run_cocoeval"]

ERROR_TYPES = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")
AREA_NAMES = ("allarea", "small", "medium", "large")
MAX_DETS = 100  # detections per image and class that COCO evaluates
_COLORS = np.vstack(
    [
        np.ones((2, 3)),
        [0.31, 0.51, 0.74],
        [0.75, 0.31, 0.30],
        [0.36, 0.90, 0.38],
        [0.50, 0.39, 0.64],
        [1, 0.6, 0],
    ]
)


def run_cocoeval(
    coco_gt: COCO,
    coco_dt: COCO,
    iou_type: str,
    iou_thrs: Sequence[float],
    area_rng: list[list[float]],
    cat_ids: Sequence[int] | None = None,
    img_ids: Sequence[int] | None = None,
) -> COCOeval:
    """``COCOeval.evaluate`` (per-image matching, ``maxDets = 100``) run quietly with these
    IoU thresholds, area ranges, classes and images (default: all of ``coco_gt``): the one
    matching behind this tool and :mod:`detkit.analysis.coco_error_matching`."""
    evaluator = COCOeval(coco_gt, coco_dt, iou_type)
    evaluator.params.imgIds = list(coco_gt.getImgIds() if img_ids is None else img_ids)
    evaluator.params.iouThrs = np.asarray(iou_thrs)
    evaluator.params.maxDets = [MAX_DETS]
    evaluator.params.areaRng = area_rng
    evaluator.params.areaRngLbl = list(AREA_NAMES[: len(area_rng)])
    if cat_ids is not None:
        evaluator.params.catIds = list(cat_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    return evaluator


def _precision(
    coco_gt: COCO,
    coco_dt: COCO,
    iou_type: str,
    iou_thrs: Sequence[float],
    area_rng: list[list[float]],
    cat_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """``COCOeval.eval['precision']`` ``[T, R, K, A]`` (one ``maxDets`` of 100), quietly."""
    evaluator = run_cocoeval(coco_gt, coco_dt, iou_type, iou_thrs, area_rng, cat_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    return evaluator.eval["precision"][..., 0]


def _forgiving(coco_gt: COCO, cat_id: int, forgive: set[int]) -> COCO:
    """A copy of ``coco_gt`` whose annotations of the ``forgive`` classes are crowd regions
    of ``cat_id`` (a detection there is neither a true nor a false positive)."""
    gt = copy.deepcopy(coco_gt)
    for ann in gt.dataset["annotations"]:
        if ann["category_id"] in forgive:
            ann.update(ignore=1, iscrowd=1, category_id=cat_id)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _plot(recall: np.ndarray, ps: np.ndarray, out_dir: str, name: str, iou_type: str) -> list[str]:
    """One PR plot per area range of ``ps`` ``[7, R, K, A]`` (classes averaged)."""
    import matplotlib.pyplot as plt

    files = []
    for a, area in enumerate(AREA_NAMES):
        curves = ps[:, :, :, a]
        aps = [float(c.mean()) for c in curves]
        stacked = [np.zeros(len(recall))] + [c.mean(axis=1) for c in curves]
        fig, ax = plt.subplots()
        for k, error in enumerate(ERROR_TYPES):
            ax.plot(recall, stacked[k + 1], color=[0, 0, 0], linewidth=0.5)
            ax.fill_between(
                recall, stacked[k], stacked[k + 1], color=_COLORS[k], label=f"[{aps[k]:.3f}]{error}"
            )
        title = f"{iou_type}-{name}-{area}"
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1), title=title)
        ax.legend()
        files.append(os.path.join(out_dir, f"{title}.png"))
        fig.savefig(files[-1])
        plt.close(fig)
    return files


def _bar_plot(ps: np.ndarray, out_dir: str, name: str, iou_type: str) -> str:
    """AP of C75 .. BG per area range as grouped bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    x = np.arange(len(AREA_NAMES))
    width = 0.6
    for i, error in enumerate(ERROR_TYPES[:-1]):
        aps = [float(ps[i, :, :, a].mean()) for a in range(len(AREA_NAMES))]
        bars = ax.bar(
            x - width / 2 + (i + 1) * width / len(ERROR_TYPES),
            aps,
            width / len(ERROR_TYPES),
            label=error,
        )
        ax.bar_label(bars, labels=[f"{100 * v:2.0f}" for v in aps], fontsize="x-small")
    title = f"{iou_type}-{name}-ap bar plot"
    ax.set(
        ylabel="Mean Average Precision (mAP)", title=title, xticks=x, xticklabels=list(AREA_NAMES)
    )
    ax.legend()
    out_file = os.path.join(out_dir, f"{title}.png")
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def coco_error_analysis(
    result: str,
    out_dir: str,
    ann: str = "data/coco/annotations/instances_val2017.json",
    types: Sequence[str] = ("bbox",),
    extraplots: bool = False,
    areas: Sequence[float] = (1024, 9216, 10000000000),
) -> dict[str, dict[str, dict[str, float]]]:
    """Write the error-breakdown plots of the COCO result json ``result`` against ``ann``
    into ``<out_dir>/<type>/`` (``<type>-<class>-<area>.png`` per class and for
    ``allclass``; bar plots too with ``extraplots``).

    Args:
        types: ``'bbox'`` and/or ``'segm'`` (``segm`` needs masks in the result json).
        areas: the upper bounds of small, medium and all (pixels²).

    Returns:
        ``{type: {class name or 'allclass': {error type: AP over all areas}}}``.

    Raises:
        ValueError: an unknown type or not three areas; FileNotFoundError: a missing file.
    """
    for res_type in types:
        if res_type not in ("bbox", "segm"):
            raise ValueError(f"result type must be 'bbox' or 'segm', got {res_type!r}")
    if len(areas) != 3:
        raise ValueError(
            f"3 numbers should be given as areas (small, medium, all), got {list(areas)}"
        )
    if not os.path.isfile(result):
        raise FileNotFoundError(f"result json not found: {result}")
    coco_gt = renumber_annotations_from_one(load_coco(ann))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(result)
    area_rng = [[0, areas[2]], [0, areas[0]], [areas[0], areas[1]], [areas[1], areas[2]]]
    cat_ids = coco_gt.getCatIds()
    cats = coco_gt.loadCats(cat_ids)
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for res_type in types:
        res_dir = os.path.join(out_dir, res_type)
        os.makedirs(res_dir, exist_ok=True)
        ps = _precision(coco_gt, coco_dt, res_type, [0.75, 0.5, 0.1], area_rng)
        ps = np.concatenate([ps, np.zeros((4, *ps.shape[1:]))])
        for k, cat in enumerate(cats):
            group = cat.get("supercategory")
            same_super = {
                c["id"] for c in cats if group is not None and c.get("supercategory") == group
            }
            for row, forgive in ((3, same_super - {cat["id"]}), (4, set(cat_ids) - {cat["id"]})):
                gt = _forgiving(coco_gt, cat["id"], forgive)
                ps[row, :, k] = _precision(gt, coco_dt, res_type, [0.1], area_rng, [cat["id"]])[
                    0, :, 0
                ]
        ps[ps == -1] = 0
        ps[5] = ps[4] > 0
        ps[6] = 1.0
        summary[res_type] = {}
        recall = np.linspace(0, 1, ps.shape[1])  # COCOeval's recThrs
        for k, cat in enumerate(cats):
            _plot(recall, ps[:, :, k : k + 1], res_dir, cat["name"], res_type)
            if extraplots:
                _bar_plot(ps[:, :, k : k + 1], res_dir, cat["name"], res_type)
            summary[res_type][cat["name"]] = {
                e: float(ps[i, :, k, 0].mean()) for i, e in enumerate(ERROR_TYPES)
            }
        _plot(recall, ps, res_dir, "allclass", res_type)
        if extraplots:
            _bar_plot(ps, res_dir, "allclass", res_type)
        summary[res_type]["allclass"] = {
            e: float(ps[i, :, :, 0].mean()) for i, e in enumerate(ERROR_TYPES)
        }
    return summary
