"""Evaluation of detection results: COCO metrics (pycocotools) and the official Cityscapes
instance-level evaluation (cityscapesscripts). Imports nothing of detkit.data."""

from detkit.evaluation.cityscapes import evaluate_cityscapes, results2txt
from detkit.evaluation.coco import COCO_METRICS, evaluate_coco, format_coco_results, load_coco
from detkit.evaluation.coco_format import encode_mask_results, results2json
from detkit.evaluation.dataset_eval import DATASET_METRICS, evaluate_dataset, format_dataset_results
from detkit.evaluation.log import print_log
from detkit.evaluation.mean_ap import average_precision, eval_map

__all__ = [
    "COCO_METRICS",
    "DATASET_METRICS",
    "average_precision",
    "eval_map",
    "evaluate_dataset",
    "format_dataset_results",
    "encode_mask_results",
    "evaluate_cityscapes",
    "evaluate_coco",
    "format_coco_results",
    "load_coco",
    "print_log",
    "results2json",
    "results2txt",
]
