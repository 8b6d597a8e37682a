"""Evaluate or format a saved results pickle without re-running the model (MMDetection v2
``tools/analysis_tools/eval_metric.py``), and print a config (``print_config.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from detkit.analysis.common import load_results
from detkit.config import Config
from detkit.config.settings import evaluation_kwargs
from detkit.engine.testing_setup import build_test_dataset

__all__ = ["eval_metric", "print_config"]


def eval_metric(
    config: Any,
    pkl_results: str | list[Any],
    eval: Sequence[str] | None = None,
    format_only: bool = False,
    cfg_options: Mapping[str, Any] | None = None,
    eval_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``eval_metric.py``: ``cfg.data.test``'s ``evaluate`` (with ``cfg.evaluation``'s
    dataset arguments, then ``eval_options``) or ``format_results`` of the pickled results.

    Returns:
        The metrics (printed), or ``{}`` with ``format_only``.

    Raises:
        ValueError: neither or both of ``eval`` and ``format_only``; the results do not
        match the split (the message names the annotation file).
    """
    if not eval and not format_only:
        raise ValueError(
            "specify at least one operation (evaluate / format the results) with "
            '"--eval" or "--format-only"'
        )
    if eval and format_only:
        raise ValueError("--eval and --format-only cannot be both specified")
    cfg = Config.load(config, cfg_options)
    dataset = build_test_dataset(cfg)
    outputs = load_results(pkl_results)
    kwargs = dict(eval_options or {})
    if format_only:
        dataset.format_results(outputs, **kwargs)
        return {}
    eval_kwargs = evaluation_kwargs(cfg)
    eval_kwargs.update(dict(metric=list(eval or ()), **kwargs))
    metrics = dataset.evaluate(outputs, **eval_kwargs)
    print(metrics)
    return metrics


def print_config(config: Any, cfg_options: Mapping[str, Any] | None = None) -> str:
    """``print_config.py``: the fully merged config (``_base_`` files, ``${}`` references,
    ``MMDET_DATASETS``, ``cfg_options``) as Python text; printed and returned."""
    cfg = Config.load(config, cfg_options)
    text = f"Config:\n{cfg.pretty_text}"
    print(text)
    return text
