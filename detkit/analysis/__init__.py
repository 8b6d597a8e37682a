"""The analysis functions behind ``tools/analysis_tools/`` (MMDetection v2's names and
arguments), one module per tool: training logs (``logs``), confusion matrix (``confusion``),
best/worst images by per-image mAP (``per_image``), the augmented training set
(``browse``), FLOPs (``flops``), inference speed (``benchmark``), evaluating a saved results
pickle and printing a config (``eval_metric``), and the COCO error breakdown
(``coco_errors``). Notebooks call these; the CLIs are thin wrappers around them.
"""

from detkit.analysis.benchmark import benchmark, measure_inference_speed
from detkit.analysis.browse import browse_dataset
from detkit.analysis.coco_errors import coco_error_analysis
from detkit.analysis.confusion import calculate_confusion_matrix, confusion_matrix, plot_confusion_matrix
from detkit.analysis.eval_metric import eval_metric, print_config
from detkit.analysis.flops import FlopsReport, count_flops, format_flops, get_flops
from detkit.analysis.logs import cal_train_time, load_json_logs, plot_curve
from detkit.analysis.per_image import analyze_results, bbox_map_eval

__all__ = [
    "FlopsReport",
    "analyze_results",
    "bbox_map_eval",
    "benchmark",
    "browse_dataset",
    "cal_train_time",
    "calculate_confusion_matrix",
    "coco_error_analysis",
    "confusion_matrix",
    "count_flops",
    "eval_metric",
    "format_flops",
    "get_flops",
    "load_json_logs",
    "measure_inference_speed",
    "plot_confusion_matrix",
    "plot_curve",
    "print_config",
]
