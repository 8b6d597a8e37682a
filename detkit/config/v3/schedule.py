"""MMDetection 3.x loops, optimizer wrapper and parameter schedulers -> detkit's ``runner``,
``optimizer``/``optimizer_config``/``fp16`` and ``lr_config``.

Schedulers map onto v2's LR updater where the two compute the same LR (MMEngine chains
schedulers multiplicatively; v2 multiplies a warmup factor into the regular LR: the same values
up to float rounding):

* a warmup ``LinearLR(start_factor=r, begin=0, end=E, by_epoch=False)`` is v2's
  ``warmup='linear', warmup_ratio=r, warmup_iters=E - 1`` (MMEngine reaches the full LR at step
  ``end - begin - 1``; v2 at ``warmup_iters``), ``ConstantLR(factor=f, end=E)`` is
  ``warmup='constant'`` likewise;
* then at most one regular scheduler from ``begin=0``: ``MultiStepLR(milestones, gamma)`` ->
  ``policy='step'`` (milestones at or past ``end`` never fire and are dropped), ``StepLR`` ->
  ``step=step_size``, ``CosineAnnealingLR`` over the whole run -> ``policy='CosineAnnealing'``,
  none -> ``policy='fixed'``.

Anything else (momentum schedulers, a warmup ``by_epoch`` or converted to iterations, schedulers
starting later, chains of regular schedulers) is reported as unsupported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import Context, plain, type_name

__all__ = ["translate_loops", "translate_optim_wrapper", "translate_schedulers"]

_INF = float("inf")


def translate_loops(cfg: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], int | None]:
    """(``runner``, evaluation interval) for v3 ``train_cfg``; ``val_cfg``/``test_cfg`` loops
    are dropped (detkit's test loop has no options)."""
    loop = plain(cfg["train_cfg"])
    kind = type_name(loop.pop("type", ""))
    if not kind:
        kind = "EpochBasedTrainLoop" if loop.pop("by_epoch", True) else "IterBasedTrainLoop"
    interval = loop.pop("val_interval", 1)
    if loop.pop("val_begin", 1) != 1:
        ctx.report.add("unsupported", "train_cfg.val_begin", "evaluation starts at the 1st")
    if loop.pop("dynamic_intervals", None) is not None:
        ctx.report.add("unsupported", "train_cfg.dynamic_intervals", "use a fixed val_interval")
    if kind == "EpochBasedTrainLoop":
        runner = dict(type="EpochBasedRunner", max_epochs=loop.pop("max_epochs"))
    elif kind == "IterBasedTrainLoop":
        runner = dict(type="IterBasedRunner", max_iters=loop.pop("max_iters"))
    else:
        ctx.report.add("unsupported", "train_cfg.type", f"{kind}: no such loop in detkit")
        return {}, interval
    for name in loop:
        ctx.report.add("unsupported", f"train_cfg.{name}", f"not an option of {kind} here")
    for name in ("val_cfg", "test_cfg"):
        options = plain(cfg.get(name) or {})
        options.pop("type", None)
        if options.pop("fp16", False):
            ctx.report.add("approximate", f"{name}.fp16", "detkit tests in full precision")
        for option in options:
            ctx.report.add("unsupported", f"{name}.{option}", "detkit's test loop has no options")
    return runner, interval


def translate_optim_wrapper(wrapper: Any, ctx: Context) -> dict[str, Any]:
    """``optimizer``, ``optimizer_config`` and (AMP) ``fp16`` for a v3 ``optim_wrapper``."""
    w = plain(wrapper)
    kind = type_name(w.pop("type", "OptimWrapper"))
    out: dict[str, Any] = {"optimizer": dict(w.pop("optimizer", {}))}
    if "paramwise_cfg" in w:
        out["optimizer"]["paramwise_cfg"] = w.pop("paramwise_cfg")
    if w.get("constructor") not in (None, "DefaultOptimWrapperConstructor"):
        ctx.report.add("unsupported", "optim_wrapper.constructor", f"{w['constructor']}")
    w.pop("constructor", None)
    out["optimizer_config"] = {"grad_clip": w.pop("clip_grad", None)}
    if kind == "AmpOptimWrapper":
        fp16: dict[str, Any] = {"loss_scale": w.pop("loss_scale", "dynamic")}
        dtype = w.pop("dtype", None)
        if dtype is not None:
            fp16["dtype"] = dtype
        out["fp16"] = fp16
    elif kind != "OptimWrapper":
        ctx.report.add("unsupported", "optim_wrapper.type", f"{kind}: not in detkit")
    if w.pop("accumulative_counts", 1) != 1:
        ctx.report.add(
            "unsupported", "optim_wrapper.accumulative_counts", "no gradient accumulation"
        )
    for name in w:
        ctx.report.add("unsupported", f"optim_wrapper.{name}", "not an optimizer option here")
    return out


def _warmup(s: dict[str, Any], ctx: Context, key: str) -> dict[str, Any] | None:
    kind = type_name(s.pop("type"))
    if s.pop("by_epoch", True) or s.pop("convert_to_iter_based", False):
        ctx.report.add(
            "unsupported",
            key,
            f"{kind} by epoch: v2 warms up by iteration; set by_epoch=False and end in iterations",
        )
        return None
    end = s.pop("end")
    out: dict[str, Any] = {"warmup_iters": int(end) - int(s.pop("begin", 0)) - 1}
    if kind == "LinearLR":
        out.update(warmup="linear", warmup_ratio=s.pop("start_factor", 1.0 / 3))
        if s.pop("end_factor", 1.0) != 1.0:
            ctx.report.add("unsupported", f"{key}.end_factor", "v2 warms up to the full LR")
    else:
        out.update(warmup="constant", warmup_ratio=s.pop("factor", 1.0 / 3))
    s.pop("verbose", None)
    for name in s:
        ctx.report.add("unsupported", f"{key}.{name}", f"not an option of {kind} here")
    return out


def _regular(
    s: dict[str, Any], ctx: Context, key: str, run_length: tuple[int | None, bool]
) -> dict[str, Any] | None:
    kind = type_name(s.pop("type"))
    by_epoch = bool(s.pop("by_epoch", True))
    begin, end = int(s.pop("begin", 0)), s.pop("end", _INF)
    s.pop("verbose", None)
    if s.pop("convert_to_iter_based", False):
        ctx.report.add("unsupported", f"{key}.convert_to_iter_based", "schedule by epoch or iter")
        return None
    out: dict[str, Any] = {"by_epoch": by_epoch}
    if kind == "MultiStepLR":
        milestones = [int(m) for m in s.pop("milestones") if m < end]
        out.update(policy="step", step=milestones, gamma=s.pop("gamma", 0.1))
    elif kind == "StepLR":
        out.update(policy="step", step=int(s.pop("step_size")), gamma=s.pop("gamma", 0.1))
    elif kind == "CosineAnnealingLR":
        length, runner_by_epoch = run_length
        t_max = s.pop("T_max", None) or (end - begin)
        if length is None or runner_by_epoch != by_epoch or t_max != length or end < length:
            ctx.report.add(
                "unsupported",
                key,
                "CosineAnnealingLR maps onto v2's only when it spans the whole run "
                "(T_max and end = max_epochs/max_iters, by_epoch as the loop)",
            )
            return None
        if "eta_min_ratio" in s:
            out.update(policy="CosineAnnealing", min_lr_ratio=s.pop("eta_min_ratio"))
        else:
            out.update(policy="CosineAnnealing", min_lr=s.pop("eta_min", 0.0))
    else:
        ctx.report.add("unsupported", key, f"{kind}: no v2 LR updater computes it")
        return None
    if begin != 0:
        ctx.report.add("unsupported", f"{key}.begin", "v2's schedule starts at the first step")
        return None
    for name in s:
        ctx.report.add("unsupported", f"{key}.{name}", f"not an option of {kind} here")
    return out


def translate_schedulers(
    schedulers: Any, ctx: Context, run_length: tuple[int | None, bool]
) -> dict[str, Any]:
    """``lr_config`` for v3 ``param_scheduler`` (one dict or a list); ``run_length`` is
    ``(max_epochs or max_iters, by_epoch)`` of the loop."""
    items = schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]
    lr_config: dict[str, Any] = {}
    regular: dict[str, Any] | None = None
    for i, scheduler in enumerate(plain(list(items))):
        key = f"param_scheduler.{i}"
        kind = type_name(scheduler.get("type", ""))
        if kind in ("LinearLR", "ConstantLR") and not lr_config and regular is None:
            if int(scheduler.get("begin", 0)) == 0:
                warmup = _warmup(scheduler, ctx, key)
                lr_config.update(warmup or {})
                continue
        if regular is not None:
            ctx.report.add("unsupported", key, "v2 runs one regular schedule after the warmup")
            continue
        regular = _regular(scheduler, ctx, key, run_length)
    return {**(regular or {"policy": "fixed"}), **lr_config}
