"""The analysis functions behind ``tools/analysis_tools/`` (MMDetection v2's names and
arguments), one module per tool: training logs (``logs``), confusion matrix (``confusion``),
best/worst images by per-image mAP (``per_image``), the augmented training set
(``browse``), FLOPs (``flops``), inference speed (``speed``), evaluating a saved results
pickle and printing a config (``saved_results``), the COCO error breakdown
(``coco_errors``) and its per-image form behind the error browser (``coco_error_matching``,
``coco_error_counts``, ``error_analysis``). Notebooks call these; the CLIs are thin wrappers
around them.

Names are imported on first use, so plotting a log does not load the models.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_NAMES: dict[str, str] = {
    "load_json_logs": "logs",
    "plot_curve": "logs",
    "cal_train_time": "logs",
    "calculate_confusion_matrix": "confusion",
    "plot_confusion_matrix": "confusion",
    "confusion_matrix": "confusion",
    "analyze_results": "per_image",
    "bbox_map_eval": "per_image",
    "browse_dataset": "browse",
    "FlopsReport": "flops",
    "count_flops": "flops",
    "format_flops": "flops",
    "get_flops": "flops",
    "benchmark": "speed",
    "measure_inference_speed": "speed",
    "eval_metric": "saved_results",
    "print_config": "saved_results",
    "coco_error_analysis": "coco_errors",
    "ErrorAnalysis": "error_analysis",
    "browse_errors": "error_analysis",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'detkit.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"detkit.analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
