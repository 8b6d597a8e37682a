"""MMDetection 3.x runtime keys -> detkit's: ``default_hooks``, ``vis_backends``/``visualizer``,
``env_cfg``, ``randomness``, ``load_from``/``resume``, ``default_scope``, ``log_processor``.

``default_hooks.checkpoint`` -> ``checkpoint_config`` (its ``save_best``/``rule`` -> the
evaluation's, v3's ``'coco/bbox_mAP'`` -> v2's ``'bbox_mAP'``), ``default_hooks.logger`` ->
``log_config.interval``, ``vis_backends`` -> ``log_config.hooks`` (TensorBoard, W&B, MLflow
logger hooks); ``timer``, ``param_scheduler``, ``sampler_seed`` and a non-drawing
``visualization`` hook are what detkit's runner always does. ``randomness`` is kept as is: the
train tool seeds from it when ``--seed`` is not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import Context, plain, type_name

__all__ = ["translate_runtime"]

_ALWAYS_ON = ("IterTimerHook", "ParamSchedulerHook", "DistSamplerSeedHook")
_VIS_TO_LOGGER = {
    "TensorboardVisBackend": "TensorboardLoggerHook",
    "WandbVisBackend": "WandbLoggerHook",
    "MLflowVisBackend": "MlflowLoggerHook",
}
_CHECKPOINT_KEYS = ("interval", "by_epoch", "save_optimizer", "out_dir", "max_keep_ckpts")


def _checkpoint(hook: dict[str, Any], ctx: Context, out: dict[str, Any]) -> None:
    config = {name: hook.pop(name) for name in _CHECKPOINT_KEYS if name in hook}
    if "save_last" in hook:
        config["save_last"] = hook.pop("save_last")
    best = hook.pop("save_best", None)
    if best is not None:
        names = [best] if isinstance(best, str) else list(best)
        if len(names) > 1:
            ctx.report.add("unsupported", "default_hooks.checkpoint.save_best", "one metric")
        out.setdefault("evaluation", {})["save_best"] = str(names[0]).split("/")[-1]
        if "rule" in hook:
            out["evaluation"]["rule"] = hook.pop("rule")
    for name in ("save_param_scheduler", "filename_tmpl", "published_keys", "file_client_args"):
        if hook.pop(name, None) is not None:
            ctx.report.add("dropped", f"default_hooks.checkpoint.{name}", "detkit's own layout")
    for name in hook:
        ctx.report.add("unsupported", f"default_hooks.checkpoint.{name}", "not in detkit")
    out["checkpoint_config"] = config


def _hooks(hooks: Mapping[str, Any], ctx: Context, out: dict[str, Any]) -> None:
    for slot, value in plain(dict(hooks)).items():
        key = f"default_hooks.{slot}"
        if value is None:
            continue
        kind = type_name(value.pop("type", ""))
        if kind in _ALWAYS_ON:
            ctx.report.add("dropped", key, f"detkit's runner always does what {kind} does")
        elif kind == "CheckpointHook":
            _checkpoint(value, ctx, out)
        elif kind == "LoggerHook":
            out["log_config"]["interval"] = value.pop("interval", 10)
            for name in value:
                ctx.report.add("dropped", f"{key}.{name}", "detkit's text logger has no option")
        elif kind == "DetVisualizationHook" and not value.get("draw", False):
            ctx.report.add("dropped", key, "it draws nothing unless draw=True")
        else:
            ctx.report.add("unsupported", key, f"{kind}: put detkit hooks in custom_hooks")


def _vis_backends(cfg: Mapping[str, Any], ctx: Context, out: dict[str, Any]) -> None:
    visualizer = plain(cfg.get("visualizer") or {})
    backends = visualizer.get("vis_backends", cfg.get("vis_backends")) or []
    for i, backend in enumerate(plain(list(backends))):
        kind = type_name(backend.pop("type", ""))
        key = f"vis_backends.{i}"
        if kind == "LocalVisBackend":
            ctx.report.add("dropped", key, "detkit always writes <work_dir>/*.log.json")
        elif kind in _VIS_TO_LOGGER:
            hook: dict[str, Any] = {"type": _VIS_TO_LOGGER[kind]}
            if "init_kwargs" in backend:
                hook["init_kwargs"] = backend.pop("init_kwargs")
            for name in ("exp_name", "tags", "params"):
                if kind == "MLflowVisBackend" and name in backend:
                    hook[name] = backend.pop(name)
            backend.pop("save_dir", None)
            for name in backend:
                ctx.report.add("dropped", f"{key}.{name}", f"not an option of {hook['type']}")
            out["log_config"]["hooks"].append(hook)
        else:
            ctx.report.add("unsupported", key, f"{kind}: no detkit logger")
    if visualizer:
        ctx.report.add("dropped", "visualizer", "detkit draws with detkit.show_result")


def _env(env: Mapping[str, Any], ctx: Context, out: dict[str, Any]) -> None:
    e = plain(dict(env))
    if "cudnn_benchmark" in e:
        out["cudnn_benchmark"] = e.pop("cudnn_benchmark")
    mp_cfg = e.pop("mp_cfg", None) or {}
    for name in ("mp_start_method", "opencv_num_threads"):
        if name in mp_cfg:
            out[name] = mp_cfg.pop(name)
    dist = e.pop("dist_cfg", None)
    if dist is not None:
        out["dist_params"] = dist
    for name in list(e) + [f"mp_cfg.{n}" for n in mp_cfg]:
        ctx.report.add("unsupported", f"env_cfg.{name}", "not a detkit environment setting")


def translate_runtime(cfg: Mapping[str, Any], ctx: Context, out: dict[str, Any]) -> None:
    """Write the detkit keys for ``cfg``'s v3 runtime keys into ``out``."""
    out["log_config"] = {"interval": 50, "hooks": [{"type": "TextLoggerHook"}]}
    if cfg.get("default_hooks"):
        _hooks(cfg["default_hooks"], ctx, out)
    _vis_backends(cfg, ctx, out)
    if cfg.get("env_cfg"):
        _env(cfg["env_cfg"], ctx, out)
    if cfg.get("randomness"):
        out["randomness"] = plain(cfg["randomness"])
    load_from = cfg.get("load_from")
    if cfg.get("resume"):
        if load_from:
            out["resume_from"] = load_from
        else:
            out["auto_resume"] = True
    else:
        out["load_from"] = load_from
    scope = cfg.get("default_scope")
    if scope not in (None, "mmdet"):
        ctx.report.add("unsupported", "default_scope", f"{scope!r}: only mmdet's components")
    if "log_processor" in cfg:
        ctx.report.add("dropped", "log_processor", "detkit logs each interval's mean")
    for name in ("launcher", "experiment_name", "tta_model", "tta_pipeline", "model_wrapper_cfg"):
        if cfg.get(name) is not None and name != "launcher":
            ctx.report.add("dropped", name, "not used by detkit (tools take --launcher)")
