"""Training-log analysis (MMDetection v2 ``tools/analysis_tools/analyze_logs.py``): read
``<timestamp>.log.json`` files, plot loss / metric curves of several runs, and summarise the
time per training iteration.

A log dict maps each epoch (1-based) to ``{key: [values of that epoch's records in order]}``;
``mode`` lists ``'train'``/``'val'`` per record. The run-meta line (``env_info``, ``config``)
and lines without an ``epoch`` are skipped.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["load_json_logs", "plot_curve", "cal_train_time"]

LogDict = dict[int, dict[str, list[Any]]]


def load_json_logs(json_logs: Sequence[str]) -> list[LogDict]:
    """One log dict per ``.log.json`` file (see the module docstring).

    Raises:
        FileNotFoundError: a file is missing; ValueError: a line is not JSON, or a file has
        no epoch records (the message names the file and line).
    """
    log_dicts: list[LogDict] = []
    for json_log in json_logs:
        if not os.path.isfile(json_log):
            raise FileNotFoundError(f"log file not found: {json_log}")
        log_dict: LogDict = {}
        with open(json_log) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{json_log}:{line_no} is not a JSON line: {exc}") from exc
                if not isinstance(record, dict) or "epoch" not in record or "env_info" in record:
                    continue
                epoch = int(record.pop("epoch"))
                per_key = log_dict.setdefault(epoch, defaultdict(list))
                for key, value in record.items():
                    per_key[key].append(value)
        if not log_dict:
            raise ValueError(f"{json_log} has no records with an 'epoch' (is it a .log.json?)")
        log_dicts.append(log_dict)
    return log_dicts


def _iters_per_epoch(log_dict: LogDict) -> int:
    """Iterations of one epoch: a val record's ``iter`` (the EvalHook writes the epoch's
    length there), else the last train ``iter`` of the first epoch."""
    for values in log_dict.values():
        for mode, it in zip(values["mode"], values["iter"]):
            if mode == "val":
                return int(it)
    first = log_dict[min(log_dict)]
    return max(int(it) for mode, it in zip(first["mode"], first["iter"]) if mode == "train")


def _curve(
    log_dict: LogDict, key: str, json_log: str, start_epoch: int, eval_interval: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(xs, ys, x_label)`` of ``key``: per epoch for metrics (``mAP`` in the name: the val
    records), per iteration ``(epoch - 1) * iters_per_epoch + iter`` for train values."""
    epochs = sorted(log_dict)
    is_metric = "mAP" in key
    if not any(key in log_dict[e] for e in epochs):
        hint = (
            "was the model trained with --no-validate?"
            if is_metric
            else "reduce log_config.interval so that it is less than the iterations of one epoch"
        )
        raise KeyError(f"{json_log} does not contain {key!r}; {hint}")
    xs: list[float] = []
    ys: list[float] = []
    if is_metric:
        for epoch in epochs:
            if epoch < start_epoch or (epoch - start_epoch) % eval_interval:
                continue
            for value in log_dict[epoch].get(key, []):  # the val records of the epoch
                xs.append(epoch)
                ys.append(value)
        return np.asarray(xs, float), np.asarray(ys, float), "epoch"
    per_epoch = _iters_per_epoch(log_dict)
    for epoch in epochs:
        values = log_dict[epoch]
        if epoch < start_epoch or key not in values:
            continue
        train_iters = [it for mode, it in zip(values["mode"], values["iter"]) if mode == "train"]
        xs.extend((epoch - 1) * per_epoch + np.asarray(train_iters, float))
        ys.extend(values[key][: len(train_iters)])
    return np.asarray(xs, float), np.asarray(ys, float), "iter"


def plot_curve(
    json_logs: Sequence[str],
    keys: Sequence[str] = ("bbox_mAP",),
    legend: Sequence[str] | None = None,
    title: str | None = None,
    start_epoch: int = 1,
    eval_interval: int = 1,
    style: str = "dark",
    backend: str | None = None,
    out: str | None = None,
    ax: Any = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Plot ``keys`` of every log on one axes (``analyze_logs.py plot_curve``).

    Args:
        json_logs: ``.log.json`` files; keys: what to plot (``loss``, ``loss_cls``,
            ``bbox_mAP``, ...; a key with ``mAP`` is drawn per epoch, others per iteration).
        legend: one label per (log, key), log-major; default ``<json_log>_<key>``.
        title: figure title; start_epoch: first epoch drawn; eval_interval: epochs between
            evaluations (metric points drawn).
        style: a seaborn style name (``dark``, ``whitegrid``, ...: matplotlib's
            ``seaborn-v0_8-<style>``) or any matplotlib style.
        backend: ``plt.switch_backend`` first; out: save the figure there, else
            ``plt.show()``; ax: draw into this Axes (then nothing is saved or shown unless
            ``out``).

    Returns:
        ``{legend label: (xs, ys)}`` of every drawn curve.

    Raises:
        ValueError: the number of legend labels is wrong or a style is unknown;
        KeyError: a log has no such key.
    """
    import matplotlib.pyplot as plt

    if start_epoch < 1 or eval_interval < 1:
        raise ValueError(
            f"start_epoch and eval_interval must be >= 1, got {start_epoch}, {eval_interval}"
        )
    if legend is None:
        legend = [f"{json_log}_{key}" for json_log in json_logs for key in keys]
    if len(legend) != len(json_logs) * len(keys):
        raise ValueError(
            f"--legend needs {len(json_logs) * len(keys)} labels (one per log and key), "
            f"got {len(legend)}"
        )
    if backend is not None:
        plt.switch_backend(backend)
    style_name = style if style in plt.style.available else f"seaborn-v0_8-{style}"
    if style_name not in plt.style.available:
        raise ValueError(f"unknown plot style {style!r}; choose from {sorted(plt.style.available)}")
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    log_dicts = load_json_logs(json_logs)
    with plt.style.context(style_name):
        figure = None
        if ax is None:
            figure, ax = plt.subplots()
        for i, (json_log, log_dict) in enumerate(zip(json_logs, log_dicts)):
            for j, key in enumerate(keys):
                label = legend[i * len(keys) + j]
                xs, ys, x_label = _curve(log_dict, key, json_log, start_epoch, eval_interval)
                if x_label == "epoch":
                    ax.plot(xs, ys, label=label, marker="o")
                    ax.set_xticks(xs)
                else:
                    ax.plot(xs, ys, label=label, linewidth=0.5)
                ax.set_xlabel(x_label)
                curves[label] = (xs, ys)
        ax.legend()
        if title is not None:
            ax.set_title(title)
        if out is not None:
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            ax.figure.savefig(out)
            print(f"save curve to: {out}")
        elif figure is not None:
            plt.show()
        if figure is not None:
            plt.close(figure)
    return curves


def cal_train_time(
    json_logs: Sequence[str], include_outliers: bool = False
) -> list[dict[str, float]]:
    """Time per training iteration of each log (``analyze_logs.py cal_train_time``); prints
    mmdet's summary. The first record of every epoch is left out unless ``include_outliers``.

    Returns:
        Per log: ``slowest_epoch``, ``slowest_time``, ``fastest_epoch``, ``fastest_time``
        (epochs 1-based, mean seconds per iteration), ``std_over_epochs``, ``average``.

    Raises:
        KeyError: an epoch has no train ``time`` left (log interval too large).
    """
    summaries = []
    for json_log, log_dict in zip(json_logs, load_json_logs(json_logs)):
        print(f"{'-' * 5}Analyze train time of {json_log}{'-' * 5}")
        epoch_times = []
        for epoch in sorted(log_dict):
            times = log_dict[epoch].get("time", [])
            times = times if include_outliers else times[1:]
            if not times:
                raise KeyError(
                    f"{json_log}: epoch {epoch} has no train 'time' left; reduce "
                    "log_config.interval so that it is less than the iterations of one "
                    "epoch, or pass --include-outliers"
                )
            epoch_times.append(times)
        means = np.array([np.mean(t) for t in epoch_times])
        slowest, fastest = int(means.argmax()), int(means.argmin())
        summary = dict(
            slowest_epoch=slowest + 1,
            slowest_time=float(means[slowest]),
            fastest_epoch=fastest + 1,
            fastest_time=float(means[fastest]),
            std_over_epochs=float(means.std()),
            average=float(np.mean(np.concatenate([np.asarray(t, float) for t in epoch_times]))),
        )
        print(
            f"slowest epoch {summary['slowest_epoch']}, average time is "
            f"{summary['slowest_time']:.4f}"
        )
        print(
            f"fastest epoch {summary['fastest_epoch']}, average time is "
            f"{summary['fastest_time']:.4f}"
        )
        print(f"time std over epochs is {summary['std_over_epochs']:.4f}")
        print(f"average iter time: {summary['average']:.4f} s/iter\n")
        summaries.append(summary)
    return summaries
