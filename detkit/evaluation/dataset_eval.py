"""``dataset.evaluate`` / ``dataset.format_results`` for COCO-style datasets (MMDetection v2
``CocoDataset`` / ``CityscapesDataset`` semantics, reference section 8.2).

The datasets keep thin methods that call these functions with themselves; the dataset is
read through its attributes only (this package does not import ``detkit.data``):
``ann_file``, ``CLASSES``, ``cat_ids``, ``img_ids``, ``data_infos`` (each with ``filename``
relative to ``img_prefix``) and ``img_prefix``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from detkit.evaluation.cityscapes import evaluate_cityscapes, results2txt
from detkit.evaluation.coco import COCO_METRICS, evaluate_coco, format_coco_results
from detkit.evaluation.log import LoggerLike

__all__ = ["DATASET_METRICS", "evaluate_dataset", "format_dataset_results"]

DATASET_METRICS = (*COCO_METRICS, "cityscapes")


def _filenames(dataset: Any) -> list[str]:
    return [info["filename"] for info in dataset.data_infos]


def evaluate_dataset(
    dataset: Any,
    results: Sequence[Any],
    metric: str | Sequence[str] = "bbox",
    logger: LoggerLike = None,
    jsonfile_prefix: str | None = None,
    outfile_prefix: str | None = None,
    classwise: bool = False,
    proposal_nums: Sequence[int] = (100, 300, 1000),
    iou_thrs: Sequence[float] | None = None,
    metric_items: Sequence[str] | None = None,
    backend: str = "pycocotools",
) -> dict[str, float | str]:
    """Evaluate ``results`` (one per image of ``dataset``, in order).

    Args:
        dataset: a COCO-style dataset (see the module docstring).
        results: MMDetection v2 test results.
        metric: ``'bbox'``, ``'segm'``, ``'proposal'``, ``'cityscapes'`` or a list of them.
        jsonfile_prefix: keep the COCO result json files at ``<prefix>.<metric>.json``.
        outfile_prefix: keep the Cityscapes prediction files in this folder.
        classwise, proposal_nums, iou_thrs, metric_items, backend: see
            :func:`detkit.evaluation.coco.evaluate_coco` (``backend``: a config's
            ``evaluation.backend``, ``'pycocotools'`` or ``'faster_coco_eval'``).

    Returns:
        The COCO metrics (``bbox_mAP``, ...) and, for ``'cityscapes'``, ``mAP`` and ``AP@50``.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for name in metrics:
        if name not in DATASET_METRICS:
            raise KeyError(f"metric {name!r} is not supported; choose from {DATASET_METRICS}")
    if len(results) != len(dataset):
        raise ValueError(
            f"got {len(results)} results for the {len(dataset)} images of {dataset.ann_file}"
        )
    eval_results: dict[str, float | str] = {}
    if "cityscapes" in metrics:
        eval_results.update(
            evaluate_cityscapes(
                results,
                _filenames(dataset),
                dataset.CLASSES,
                dataset.img_prefix,
                outfile_prefix,
                logger,
            )
        )
    coco_metrics = [name for name in metrics if name != "cityscapes"]
    if coco_metrics:
        eval_results.update(
            evaluate_coco(
                results,
                dataset.ann_file,
                coco_metrics,
                cat_ids=dataset.cat_ids,
                img_ids=dataset.img_ids,
                logger=logger,
                jsonfile_prefix=jsonfile_prefix,
                classwise=classwise,
                proposal_nums=proposal_nums,
                iou_thrs=iou_thrs,
                metric_items=metric_items,
                backend=backend,
            )
        )
    return eval_results


def format_dataset_results(
    dataset: Any,
    results: Sequence[Any],
    jsonfile_prefix: str | None = None,
    txtfile_prefix: str | None = None,
) -> tuple[dict[str, str] | list[str], tempfile.TemporaryDirectory | None]:
    """Write ``results`` for submission: Cityscapes ``_pred.txt`` + PNGs into
    ``txtfile_prefix`` when given, else COCO json at ``jsonfile_prefix`` (a temporary dir
    when None). Returns ``(files, tmp_dir)``: the COCO ``{metric: path}`` dict or the list of
    txt files, and the temporary dir to clean up (or None).
    """
    if len(results) != len(dataset):
        raise ValueError(
            f"got {len(results)} results for the {len(dataset)} images of {dataset.ann_file}"
        )
    if txtfile_prefix is not None:
        return results2txt(results, _filenames(dataset), dataset.CLASSES, txtfile_prefix), None
    return format_coco_results(results, dataset.img_ids, dataset.cat_ids, jsonfile_prefix)
