"""detkit: MMDetection-v2-compatible instance segmentation (Cascade Mask R-CNN, AugFPN,
AutoAugment) on current PyTorch, driven from notebooks.

The public names below are imported lazily, so ``import detkit`` stays cheap and
``from detkit.registry import NECKS`` does not pull in the models.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC_API: dict[str, str] = {
    "BitmapMasks": "detkit.structures.masks",
    "PolygonMasks": "detkit.structures.masks",
    "DataContainer": "detkit.structures.data_container",
    "collate": "detkit.data",
    "scatter": "detkit.engine.model_inputs",
    "draw_instances": "detkit.viz",
    "load_preview_samples": "detkit.viz",
    "config_policies": "detkit.viz",
    "make_policy": "detkit.viz",
    "augment_sample": "detkit.viz",
    "render_policy_grid": "detkit.viz",
    "build_augmentation_ui": "detkit.viz",
    "Config": "detkit.config",
    "check_config_values": "detkit.config",
    "CheckpointError": "detkit.checkpoint",
    "registry": "detkit.registry",
    "run_cli": "detkit.cli",
    "build_dataset": "detkit.data",
    "MultiImageMixDataset": "detkit.data",
    "build_dataloader": "detkit.data",
    "convert_cityscapes": "detkit.data",
    "generate_cityscapes_sample": "detkit.data",
    "split_device_augment": "detkit.data",
    "DeviceAugment": "detkit.data",
    "coco_stats": "detkit.data.inspect",
    "plot_annotation_stats": "detkit.data.inspect",
    "show_annotated_images": "detkit.data.inspect",
    "compare_necks": "detkit.models.analysis",
    "compare_roi_extractors": "detkit.models.analysis",
    "format_costs": "detkit.models.analysis",
    "build_detector": "detkit.models",
    "fuse_conv_bn": "detkit.models.layers",
    "DetectionResult": "detkit.structures.results",
    "RoIMasks": "detkit.structures.roi_masks",
    "MaskList": "detkit.structures.roi_masks",
    "FeaturePyramid": "detkit.structures.feature_pyramid",
    "Instances": "detkit.structures.instances",
    "parameter_table": "detkit.models.summary",
    "format_parameter_table": "detkit.models.summary",
    "init_detector": "detkit.engine.inference",
    "inference_detector": "detkit.engine.inference",
    "predict_images": "detkit.engine.inference",
    "show_result": "detkit.viz",
    "draw_result": "detkit.viz",
    "render_result": "detkit.viz",
    "find_images": "detkit.engine.inference",
    "infer_folder": "detkit.engine.inference",
    "single_gpu_test": "detkit.engine.testing",
    "multi_gpu_test": "detkit.engine.testing",
    "set_img_scale": "detkit.engine.apis",
    "evaluate_detector": "detkit.engine.apis",
    "DATASET_METRICS": "detkit.evaluation",
    "write_eval_json": "detkit.engine.apis",
    "plot_class_ap": "detkit.engine.apis",
    "DictAction": "detkit.config",
    "init_dist": "detkit.engine.dist",
    "get_dist_info": "detkit.engine.dist",
    "expand_hostlist": "detkit.engine.slurm",
    "setup_training": "detkit.engine.training_setup",
    "TrainingSetup": "detkit.engine.training_setup",
    "train_detector": "detkit.engine.train",
    "find_latest_checkpoint": "detkit.engine.train",
    "skip_overwritten_pretrained": "detkit.engine.train",
    "Runner": "detkit.engine.runner",
    "launch": "detkit.engine",
    "enable_early_stopping": "detkit.engine",  # tools/train.py --early-stopping
    "Hook": "detkit.engine.hooks",
    "TensorboardLoggerHook": "detkit.engine.hooks",
    "MlflowLoggerHook": "detkit.engine.hooks",
    "WandbLoggerHook": "detkit.engine.hooks",
    "MMDetWandbHook": "detkit.engine.hooks",
    "set_random_seed": "detkit.engine.rng",
    "init_random_seed": "detkit.engine.rng",
    "get_root_logger": "detkit.engine.log",
    "collect_env": "detkit.engine.env",
    "format_env": "detkit.engine.env",
    "CpuCapability": "detkit.ops.cpu",
    "probe_cpu": "detkit.ops.cpu",
    "cpu_autocast": "detkit.ops.cpu",
    "cpu_autocast_dtype": "detkit.ops.cpu",
    "ThreadSettings": "detkit.ops.threads",
    "thread_settings": "detkit.ops.threads",
    "configure_threads": "detkit.ops.threads",
    "replace_cfg_vals": "detkit.config",
    "update_data_root": "detkit.config",
    "resolve_work_dir": "detkit.config",
    "compat_runner_args": "detkit.config",
    "sweep": "detkit.experiments",
    "expand_grid": "detkit.experiments",
    "load_experiments": "detkit.experiments",
    "plot_curves": "detkit.experiments",
    "metrics_rows": "detkit.experiments",
    "class_ap_rows": "detkit.experiments",
    "format_table": "detkit.experiments",
    "plot_class_aps": "detkit.experiments",
    "experiment_confusion": "detkit.experiments",
    "load_checkpoint": "detkit.checkpoint",
    "save_checkpoint": "detkit.checkpoint",
    "load_json_logs": "detkit.analysis",
    "plot_curve": "detkit.analysis",
    "cal_train_time": "detkit.analysis",
    "calculate_confusion_matrix": "detkit.analysis",
    "plot_confusion_matrix": "detkit.analysis",
    "confusion_matrix": "detkit.analysis",
    "analyze_results": "detkit.analysis",
    "bbox_map_eval": "detkit.analysis",
    "browse_dataset": "detkit.analysis",
    "get_flops": "detkit.analysis",
    "count_flops": "detkit.analysis",
    "format_flops": "detkit.analysis",
    "FlopsReport": "detkit.analysis",
    "benchmark": "detkit.analysis",
    "measure_inference_speed": "detkit.analysis",
    "eval_metric": "detkit.analysis",
    "print_config": "detkit.analysis",
    "coco_error_analysis": "detkit.analysis",
    "ErrorAnalysis": "detkit.analysis",  # every detkit.analysis name is public (until issue 27)
    "browse_errors": "detkit.analysis",
    "deploy": "detkit.deploy",
    "export": "detkit.deploy.exporter",
    "OnnxDetector": "detkit.deploy.runtime",
}

__all__ = sorted(_PUBLIC_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    module_name = _PUBLIC_API.get(name)
    if module_name is None:
        raise AttributeError(f"module 'detkit' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC_API))
