"""``to_internal``: an MMDetection 3.x config dict -> detkit's internal (MMDetection v2 schema)
config, once, at load time. What v3 semantics need beyond v2's components is kept by detkit's
``mmdet3.*`` components; what has no equivalent is reported (see :mod:`.report`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import Context, plain
from detkit.config.v3.data import translate_dataloaders, translate_evaluator
from detkit.config.v3.pipelines import preprocessor_transforms, translate_pipeline
from detkit.config.v3.report import ConversionReport
from detkit.config.v3.runtime import translate_runtime
from detkit.config.v3.schedule import (
    translate_loops,
    translate_optim_wrapper,
    translate_schedulers,
)

__all__ = ["to_internal"]

# v3 keys read by the translators; every other key is kept as it is
_CONSUMED = (
    "model",
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "val_evaluator",
    "test_evaluator",
    "train_cfg",
    "val_cfg",
    "test_cfg",
    "optim_wrapper",
    "param_scheduler",
    "default_hooks",
    "vis_backends",
    "visualizer",
    "env_cfg",
    "randomness",
    "load_from",
    "resume",
    "default_scope",
    "log_processor",
    "launcher",
    "experiment_name",
    "tta_model",
    "tta_pipeline",
    "model_wrapper_cfg",
)


def _model(cfg: Mapping[str, Any], ctx: Context) -> dict[str, Any] | None:
    if cfg.get("model") is None:
        return None
    model = plain(cfg["model"])
    preprocessor = model.pop("data_preprocessor", None)
    if preprocessor is not None:
        preprocessor_transforms(preprocessor, ctx, "model.data_preprocessor")
    return dict(model)


def _evaluation(cfg: Mapping[str, Any], out: dict[str, Any], ctx: Context) -> None:
    evaluator = cfg.get("val_evaluator", cfg.get("test_evaluator"))
    if evaluator is None:
        return
    data = out.get("data") or {}
    dataset = data.get("val") or data.get("test")
    evaluation = translate_evaluator(evaluator, dataset, ctx, "val_evaluator")
    if "test_evaluator" in cfg and plain(cfg["test_evaluator"]) != plain(evaluator):
        ctx.report.add(
            "approximate",
            "test_evaluator",
            "detkit tests with val_evaluator's options (tools/test.py --eval picks metrics)",
        )
    out["evaluation"] = {**evaluation, **out.get("evaluation", {})}


def to_internal(
    cfg: Mapping[str, Any], target: str = "detkit"
) -> tuple[dict[str, Any], ConversionReport]:
    """Translate a v3 config dict (already merged with its bases).

    Args:
        cfg: the v3 config.
        target: ``'detkit'`` (run in detkit, v3 semantics kept) or ``'v2'`` (nearest
            MMDetection 2.x components, differences reported).

    Returns:
        (the v2-schema config dict, the report). Nothing is raised for unsupported keys: the
        caller decides (loading raises, the converter writes the report).
    """
    ctx = Context(ConversionReport("v3", "v2" if target == "v2" else "detkit"), target)
    out: dict[str, Any] = {}
    model = _model(cfg, ctx)
    if model is not None:
        out["model"] = model
    data = translate_dataloaders(cfg, ctx)
    if data is not None:
        out["data"] = data
    for name, value in cfg.items():
        if (
            name.endswith("_pipeline")
            and isinstance(value, (list, tuple))
            and name not in _CONSUMED
        ):
            test = "test" in name or "val" in name
            out[name] = translate_pipeline(value, ctx, name, test)
    runner: dict[str, Any] = {}
    if cfg.get("train_cfg") is not None:
        runner, interval = translate_loops(cfg, ctx)
        out["runner"] = runner
        out["evaluation"] = {"interval": interval}
    if cfg.get("optim_wrapper") is not None:
        out.update(translate_optim_wrapper(cfg["optim_wrapper"], ctx))
    if cfg.get("param_scheduler") is not None:
        length = runner.get("max_epochs", runner.get("max_iters"))
        by_epoch = runner.get("type") != "IterBasedRunner"
        out["lr_config"] = translate_schedulers(cfg["param_scheduler"], ctx, (length, by_epoch))
    translate_runtime(cfg, ctx, out)
    _evaluation(cfg, out, ctx)
    for name, value in cfg.items():
        if name not in _CONSUMED and name not in out:
            out[name] = plain(value)
    return out, ctx.report
