"""``to_v3``: a detkit / MMDetection v2 config dict -> an MMDetection 3.x config dict (the
converter's v2 -> v3 direction), with a report of what did not map exactly.

``runner``/``total_epochs`` -> ``train_cfg`` loop (+ ``val_cfg``/``test_cfg``),
``optimizer``/``optimizer_config``/``fp16`` -> ``optim_wrapper``, ``lr_config`` ->
``param_scheduler`` (v2's ``warmup_iters=W`` is ``LinearLR(end=W + 1)``: MMEngine reaches the
full LR at ``end - 1``), ``checkpoint_config``/``log_config`` -> ``default_hooks`` and
``vis_backends``, ``dist_params``/``mp_start_method``/... -> ``env_cfg``, ``resume_from`` ->
``load_from`` + ``resume=True``, ``seed`` -> ``randomness``. Data: :mod:`.to_v3_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import Context, plain
from detkit.config.v3.report import ConversionReport
from detkit.config.v3.to_v3_data import (
    dataset_to_v3,
    evaluation_to_v3,
    pipeline_to_v3,
    read_preprocessor,
)

__all__ = ["to_v3"]

_LOGGER_TO_VIS = {
    "TensorboardLoggerHook": "TensorboardVisBackend",
    "WandbLoggerHook": "WandbVisBackend",
    "MlflowLoggerHook": "MLflowVisBackend",
}
_HOOK_KEYS = ("interval", "save_best", "rule", "by_epoch", "gpu_collect", "tmpdir")
_VIS_OPTIONS = ("init_kwargs", "exp_name", "tags", "params")
_CONSUMED = (
    "model", "data", "evaluation", "runner", "total_epochs", "optimizer", "optimizer_config",
    "fp16", "lr_config", "checkpoint_config", "log_config", "dist_params", "mp_start_method",
    "opencv_num_threads", "cudnn_benchmark", "load_from", "resume_from", "auto_resume",
    "workflow", "seed",
)  # fmt: skip


def _train_dataset(data: Mapping[str, Any]) -> Mapping[str, Any]:
    train = data.get("train") or {}
    while "dataset" in train:
        train = train["dataset"]
    return train


def _loaders(cfg: Mapping[str, Any], ctx: Context, native: bool) -> dict[str, Any]:
    data = plain(cfg["data"])
    out: dict[str, Any] = {}
    workers = data.get("workers_per_gpu", 2)
    persistent = data.get("persistent_workers", False)
    if "train" in data:
        train_args = dict(data.get("train_dataloader") or {})
        out["train_dataloader"] = dict(
            batch_size=train_args.pop("samples_per_gpu", data.get("samples_per_gpu", 2)),
            num_workers=train_args.pop("workers_per_gpu", workers),
            persistent_workers=persistent,
            sampler=dict(type="DefaultSampler", shuffle=train_args.pop("shuffle", True)),
            batch_sampler=dict(type="AspectRatioBatchSampler"),
            dataset=dataset_to_v3(data["train"], ctx, "data.train", native),
            **train_args,
        )
    for split in ("val", "test"):
        if split not in data:
            continue
        args = dict(data.get(f"{split}_dataloader") or {})
        dataset = dict(data[split])
        out[f"{split}_dataloader"] = dict(
            batch_size=args.pop("samples_per_gpu", dataset.pop("samples_per_gpu", 1)),
            num_workers=args.pop("workers_per_gpu", workers),
            persistent_workers=persistent,
            drop_last=False,
            sampler=dict(type="DefaultSampler", shuffle=False),
            dataset=dataset_to_v3(dict(dataset, test_mode=True), ctx, f"data.{split}", native),
            **args,
        )
    return out


def _loops(cfg: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], int, bool]:
    runner = dict(cfg.get("runner") or {"type": "EpochBasedRunner"})
    if cfg.get("total_epochs") is not None and "max_epochs" not in runner:
        runner["max_epochs"] = cfg["total_epochs"]
    interval = (cfg.get("evaluation") or {}).get("interval", 1)
    if runner.get("type", "EpochBasedRunner") == "IterBasedRunner":
        return (
            dict(type="IterBasedTrainLoop", max_iters=runner["max_iters"], val_interval=interval),
            runner["max_iters"],
            False,
        )
    loop = dict(
        type="EpochBasedTrainLoop", max_epochs=runner.get("max_epochs"), val_interval=interval
    )
    return loop, int(runner.get("max_epochs") or 0), True


def _schedulers(
    lr: Mapping[str, Any], length: int, by_epoch_run: bool, ctx: Context
) -> list[dict[str, Any]]:
    lr = dict(lr)
    out: list[dict[str, Any]] = []
    warmup = lr.pop("warmup", None)
    iters, ratio = lr.pop("warmup_iters", 0), lr.pop("warmup_ratio", 0.1)
    if lr.pop("warmup_by_epoch", False):
        ctx.report.add("unsupported", "lr_config.warmup_by_epoch", "v3 warms up by iteration")
    if warmup == "linear":
        out.append(
            dict(type="LinearLR", start_factor=ratio, by_epoch=False, begin=0, end=iters + 1)
        )
    elif warmup == "constant":
        out.append(dict(type="ConstantLR", factor=ratio, by_epoch=False, begin=0, end=iters + 1))
    elif warmup is not None:
        ctx.report.add("unsupported", "lr_config.warmup", f"{warmup!r}: no v3 scheduler")
    policy = str(lr.pop("policy", lr.pop("type", "fixed")))
    by_epoch = lr.pop("by_epoch", True)
    span = dict(by_epoch=by_epoch, begin=0, end=length if by_epoch == by_epoch_run else None)
    if span["end"] is None:
        span.pop("end")
    if policy.lower() == "step":
        step = lr.pop("step")
        kind = "MultiStepLR" if isinstance(step, list) else "StepLR"
        key = "milestones" if kind == "MultiStepLR" else "step_size"
        out.append(dict(type=kind, **{key: step}, gamma=lr.pop("gamma", 0.1), **span))
    elif policy.lower() in ("cosineannealing", "cosine"):
        eta = (
            {"eta_min_ratio": lr.pop("min_lr_ratio")}
            if "min_lr_ratio" in lr
            else {"eta_min": lr.pop("min_lr", 0.0)}
        )
        out.append(dict(type="CosineAnnealingLR", T_max=length, **eta, **span))
    elif policy.lower() != "fixed":
        ctx.report.add("unsupported", "lr_config.policy", f"{policy!r}: no v3 scheduler mapped")
    for name in lr:
        ctx.report.add("unsupported", f"lr_config.{name}", "no v3 scheduler option")
    return out


def _optim(cfg: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    optimizer = plain(cfg["optimizer"])
    wrapper: dict[str, Any] = {"type": "OptimWrapper"}
    fp16 = cfg.get("fp16")
    if fp16 is not None:
        wrapper.update(type="AmpOptimWrapper", loss_scale=fp16.get("loss_scale", "dynamic"))
        if fp16.get("dtype"):
            wrapper["dtype"] = fp16["dtype"]
    if "paramwise_cfg" in optimizer:
        wrapper["paramwise_cfg"] = optimizer.pop("paramwise_cfg")
    wrapper["optimizer"] = optimizer
    grad_clip = (cfg.get("optimizer_config") or {}).get("grad_clip")
    wrapper["clip_grad"] = plain(grad_clip)
    return wrapper


def _runtime(cfg: Mapping[str, Any], out: dict[str, Any], ctx: Context) -> None:
    checkpoint = dict(type="CheckpointHook", **plain(cfg.get("checkpoint_config") or {}))
    evaluation = cfg.get("evaluation") or {}
    if evaluation.get("save_best"):
        checkpoint["save_best"] = f"coco/{evaluation['save_best']}"
        if evaluation.get("rule"):
            checkpoint["rule"] = evaluation["rule"]
    log = plain(cfg.get("log_config") or {})
    out["default_hooks"] = dict(
        timer=dict(type="IterTimerHook"),
        logger=dict(type="LoggerHook", interval=log.get("interval", 50)),
        param_scheduler=dict(type="ParamSchedulerHook"),
        checkpoint=checkpoint,
        sampler_seed=dict(type="DistSamplerSeedHook"),
        visualization=dict(type="DetVisualizationHook"),
    )
    backends = [dict(type="LocalVisBackend")]
    for i, hook in enumerate(log.get("hooks", [])):
        kind = hook.pop("type", "")
        if kind in _LOGGER_TO_VIS:
            options = {k: v for k, v in hook.items() if k in _VIS_OPTIONS}
            backends.append(dict(type=_LOGGER_TO_VIS[kind], **options))
        elif kind != "TextLoggerHook":
            ctx.report.add("unsupported", f"log_config.hooks.{i}", f"{kind}: no v3 vis backend")
    out["vis_backends"] = backends
    out["visualizer"] = dict(type="DetLocalVisualizer", vis_backends=backends, name="visualizer")
    mp_cfg = {k: cfg[k] for k in ("mp_start_method", "opencv_num_threads") if k in cfg}
    out["env_cfg"] = dict(
        cudnn_benchmark=cfg.get("cudnn_benchmark", False),
        mp_cfg=mp_cfg,
        dist_cfg=plain(cfg.get("dist_params") or {"backend": "nccl"}),
    )
    resume = cfg.get("resume_from")
    out["load_from"] = resume or cfg.get("load_from")
    out["resume"] = bool(resume or cfg.get("auto_resume"))
    if cfg.get("seed") is not None:
        out["randomness"] = dict(seed=cfg["seed"])
    workflow = [tuple(w) for w in cfg.get("workflow") or [("train", 1)]]
    if workflow != [("train", 1)]:
        ctx.report.add("unsupported", "workflow", f"{workflow}: v3 trains and validates by loop")


def to_v3(cfg: Mapping[str, Any], native: bool = False) -> tuple[dict[str, Any], ConversionReport]:
    """Translate a v2-schema config dict (merged with its bases) to MMDetection 3.x's schema.

    Args:
        native: write the nearest v3 transforms where v2's have no exact v3 equivalent
            (reported as approximate), instead of ``detkit.<name>`` (exact, detkit only).
    """
    ctx = Context(ConversionReport("v2", "v3"), "v3")
    out: dict[str, Any] = {"default_scope": "mmdet"}
    data = cfg.get("data") or {}
    if cfg.get("model") is not None:
        model = plain(cfg["model"])
        if model.get("pretrained", 0) is None:  # v3 detectors take no `pretrained`
            model.pop("pretrained")
        elif "pretrained" in model:
            ctx.report.add("unsupported", "model.pretrained", "use backbone.init_cfg (Pretrained)")
        masks = "gt_masks" in str(_train_dataset(data).get("pipeline", ""))
        preprocessor = read_preprocessor(_train_dataset(data).get("pipeline"), masks)
        head = {"type": model.pop("type")}
        if preprocessor:
            head["data_preprocessor"] = preprocessor
        out["model"] = {**head, **model}
    for name, value in cfg.items():
        if name.endswith("_pipeline") and isinstance(value, (list, tuple)):
            out[name] = pipeline_to_v3(value, ctx, name, native)
    if data:
        out.update(_loaders(cfg, ctx, native))
    length, by_epoch = 0, True
    if cfg.get("runner") is not None or cfg.get("total_epochs") is not None:
        out["train_cfg"], length, by_epoch = _loops(cfg, ctx)
        out["val_cfg"], out["test_cfg"] = dict(type="ValLoop"), dict(type="TestLoop")
    if cfg.get("evaluation") is not None:
        metrics = {k: v for k, v in cfg["evaluation"].items() if k not in _HOOK_KEYS}
        out["val_evaluator"] = evaluation_to_v3(metrics, data.get("val"), ctx)
        out["test_evaluator"] = out["val_evaluator"]
    if cfg.get("optimizer") is not None:
        out["optim_wrapper"] = _optim(cfg, ctx)
    if cfg.get("lr_config") is not None:
        out["param_scheduler"] = _schedulers(cfg["lr_config"], length, by_epoch, ctx)
    _runtime(cfg, out, ctx)
    for name, value in cfg.items():
        if name not in _CONSUMED and name not in out:
            out[name] = plain(value)
    return out, ctx.report
