"""MMDetection 3.x dataloaders, datasets and evaluators -> detkit's ``data`` and ``evaluation``.

``train_dataloader`` -> ``data.samples_per_gpu``/``workers_per_gpu``/``persistent_workers`` and
``data.train``; ``val_dataloader``/``test_dataloader`` -> ``data.val``/``data.test`` (their batch
size and workers in ``data.val_dataloader``/``data.test_dataloader``, mmdet 2.28's layout).
A v3 dataset's ``data_root`` + ``ann_file``/``data_prefix`` keep their meaning (detkit's
datasets join them the same way), ``filter_cfg`` -> ``filter_empty_gt``/``min_size`` (v3 filters
nothing without it), ``metainfo.classes`` -> ``classes``. ``val_evaluator`` (``CocoMetric``,
``CityScapesMetric`` or a list of them) -> ``evaluation`` (``metric`` and options).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import Context, plain, type_name
from detkit.config.v3.pipelines import translate_pipeline

__all__ = ["translate_dataloaders", "translate_evaluator", "translate_dataset"]

_WRAPPERS = ("RepeatDataset", "ClassBalancedDataset")
_DROPPED_DATASET_KEYS = ("serialize_data", "lazy_init", "max_refetch", "backend_args")


def translate_dataset(dataset: Any, ctx: Context, key: str, test: bool) -> dict[str, Any]:
    """The v2 form of a v3 dataset config (wrappers included)."""
    d = plain(dataset)
    kind = type_name(d.pop("type", "CocoDataset"))
    if kind in _WRAPPERS:
        inner = translate_dataset(d.pop("dataset"), ctx, f"{key}.dataset", test)
        return dict(type=kind, dataset=inner, **d)
    if kind == "ConcatDataset":
        parts = [
            translate_dataset(part, ctx, f"{key}.datasets.{i}", test)
            for i, part in enumerate(d.pop("datasets"))
        ]
        return dict(type=kind, datasets=parts, **d)
    out: dict[str, Any] = {"type": kind}
    for name in ("data_root", "ann_file", "test_mode", "proposal_file"):
        if name in d:
            out[name] = d.pop(name)
    prefix = d.pop("data_prefix", None) or {}
    for v3_name, v2_name in (("img", "img_prefix"), ("img_path", "img_prefix")):
        if v3_name in prefix:
            out[v2_name] = prefix.pop(v3_name)
    for v3_name in ("seg", "seg_map_path"):
        if v3_name in prefix:
            out["seg_prefix"] = prefix.pop(v3_name)
    for name in prefix:
        ctx.report.add("unsupported", f"{key}.data_prefix.{name}", "only img and seg prefixes")
    if "img_prefix" not in out:
        out["img_prefix"] = ""
    filter_cfg = d.pop("filter_cfg", None) or {}
    out["filter_empty_gt"] = bool(filter_cfg.pop("filter_empty_gt", False))
    out["min_size"] = int(filter_cfg.pop("min_size", 0))
    for name in filter_cfg:
        ctx.report.add("unsupported", f"{key}.filter_cfg.{name}", "not in detkit's datasets")
    metainfo = d.pop("metainfo", None) or {}
    if "classes" in metainfo:
        out["classes"] = list(metainfo.pop("classes"))
    for name in metainfo:
        ctx.report.add("dropped", f"{key}.metainfo.{name}", "detkit draws with its own colours")
    if "pipeline" in d:
        out["pipeline"] = translate_pipeline(d.pop("pipeline"), ctx, f"{key}.pipeline", test)
    for name in _DROPPED_DATASET_KEYS:
        if d.pop(name, None) is not None and name == "backend_args":
            ctx.report.add("unsupported", f"{key}.backend_args", "only local files are read")
    for name in d:
        ctx.report.add("unsupported", f"{key}.{name}", f"not an argument of detkit's {kind}")
    return out


def _loader(
    loader: Any, ctx: Context, key: str, train: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loader options, v2 dataset) of one v3 dataloader."""
    options = plain(loader)
    args: dict[str, Any] = {}
    if "batch_size" in options:
        args["samples_per_gpu"] = options.pop("batch_size")
    if "num_workers" in options:
        args["workers_per_gpu"] = options.pop("num_workers")
    for name in ("persistent_workers", "pin_memory", "drop_last"):
        if name in options:
            args[name] = options.pop(name)
    sampler = options.pop("sampler", None) or {}
    sampler_type = type_name(sampler.get("type", "DefaultSampler"))
    if train and sampler_type == "InfiniteSampler":
        ctx.report.add(
            "approximate", f"{key}.sampler", "detkit shuffles each pass (IterBasedRunner)"
        )
    elif sampler_type != "DefaultSampler":
        ctx.report.add("unsupported", f"{key}.sampler.type", f"{sampler_type}: not in detkit")
    if train and sampler.get("shuffle", True) is False:
        args["shuffle"] = False
    if train and sampler.get("seed") is not None:
        ctx.report.add("dropped", f"{key}.sampler.seed", "the run's seed seeds the sampler")
    batch_sampler = options.pop("batch_sampler", None)
    if train and batch_sampler is not None and args.get("samples_per_gpu", 1) > 1:
        ctx.report.add(
            "approximate",
            f"{key}.batch_sampler",
            "v2's GroupSampler batches images of one aspect-ratio group, as "
            "AspectRatioBatchSampler does, but in another order (same with batch_size=1)",
        )
    collate = options.pop("collate_fn", None)
    if collate is not None and type_name(collate.get("type")) not in ("pseudo_collate",):
        ctx.report.add("unsupported", f"{key}.collate_fn", "detkit collates as mmcv's collate")
    dataset = translate_dataset(options.pop("dataset"), ctx, f"{key}.dataset", not train)
    for name in options:
        ctx.report.add("unsupported", f"{key}.{name}", "not a detkit loader option")
    return args, dataset


def translate_dataloaders(cfg: Mapping[str, Any], ctx: Context) -> dict[str, Any] | None:
    """``data`` for the v3 dataloaders of ``cfg`` (None if it has none)."""
    if not any(f"{split}_dataloader" in cfg for split in ("train", "val", "test")):
        return None
    data: dict[str, Any] = {}
    if cfg.get("train_dataloader") is not None:
        args, data["train"] = _loader(cfg["train_dataloader"], ctx, "train_dataloader", True)
        for name in ("samples_per_gpu", "workers_per_gpu", "persistent_workers"):
            if name in args:
                data[name] = args.pop(name)
        if args:
            data["train_dataloader"] = args
    for split in ("val", "test"):
        if cfg.get(f"{split}_dataloader") is None:
            continue
        args, data[split] = _loader(cfg[f"{split}_dataloader"], ctx, f"{split}_dataloader", False)
        data[split]["test_mode"] = True
        args.pop("persistent_workers", None)
        args.pop("drop_last", None)
        if args:
            data[f"{split}_dataloader"] = args
    return data


def _metric_path(data_root: Any, path: Any) -> str:
    joined = (
        path if data_root is None or os.path.isabs(str(path)) else os.path.join(data_root, path)
    )
    return os.path.normpath(str(joined))


def translate_evaluator(
    evaluator: Any, dataset: Mapping[str, Any] | None, ctx: Context, key: str
) -> dict[str, Any]:
    """``evaluation`` options for a v3 evaluator (a metric dict or a list of them)."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    out: dict[str, Any] = {"metric": []}
    for i, metric in enumerate(plain(list(metrics))):
        where = f"{key}.{i}" if isinstance(evaluator, (list, tuple)) else key
        kind = type_name(metric.pop("type", ""))
        ann_file = metric.pop("ann_file", None)
        if ann_file is not None and dataset is not None and "ann_file" in dataset:
            expected = _metric_path(dataset.get("data_root"), dataset["ann_file"])
            if _metric_path(None, ann_file) != expected:
                ctx.report.add(
                    "approximate", f"{where}.ann_file", f"detkit evaluates against {expected}"
                )
        for name in ("backend_args", "collect_device", "prefix", "sort_categories"):
            metric.pop(name, None)
        metric.pop("use_mp_eval", None)
        if metric.pop("format_only", False):
            ctx.report.add("approximate", f"{where}.format_only", "use tools/test.py --format-only")
        if kind == "CocoMetric":
            names = metric.pop("metric", "bbox")
            out["metric"] += [names] if isinstance(names, str) else list(names)
            if "outfile_prefix" in metric:
                out["jsonfile_prefix"] = metric.pop("outfile_prefix")
            for name in ("classwise", "proposal_nums", "iou_thrs", "metric_items"):
                if name in metric:
                    out[name] = metric.pop(name)
        elif kind == "CityScapesMetric":
            out["metric"].append("cityscapes")
            if "outfile_prefix" in metric:
                out["outfile_prefix"] = metric.pop("outfile_prefix")
            for name in ("seg_prefix", "keep_results", "dump_matches", "keep_gt_json"):
                if metric.pop(name, None) is not None:
                    ctx.report.add(
                        "dropped",
                        f"{where}.{name}",
                        "detkit evaluates the ground truth under the dataset's image folder",
                    )
        else:
            ctx.report.add("unsupported", where, f"{kind}: no detkit evaluation")
            continue
        for name in metric:
            ctx.report.add("unsupported", f"{where}.{name}", f"not an option of {kind} here")
    return out
