"""Compare training runs (a sweep's or any work dirs): loss and mAP curves overlaid, the final
metrics table, per-class AP side by side (nb06).

A run's work dir holds what nb04 / ``tools/train.py`` write: ``*.log.json`` (curves), the
newest ``eval_*.json`` (final metrics, per-class AP with ``classwise``), a dumped config
``*.py`` and, when saved, the ``--out`` results pickle (``results.pkl``) for the confusion
matrices (:mod:`detkit.experiments.confusion`).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detkit.experiments.summary import RUN_RECORD, final_metrics
from detkit.io import read_json

__all__ = [
    "Experiment",
    "class_ap_rows",
    "format_table",
    "load_experiments",
    "metrics_rows",
    "plot_class_aps",
    "plot_curves",
]


@dataclass
class Experiment:
    """One run: ``name``, ``work_dir``, its JSON-log ``train``/``val`` records (in order,
    with ``x`` = epochs done as a float), the ``final`` metrics and the sweep ``status``."""

    name: str
    work_dir: str
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    status: str = "done"

    @property
    def config(self) -> str | None:
        """The config dumped into the work dir (the newest ``*.py``), if any."""
        found = glob.glob(os.path.join(glob.escape(self.work_dir), "*.py"))
        return max(found, key=os.path.getmtime) if found else None

    @property
    def results(self) -> str | None:
        path = os.path.join(self.work_dir, "results.pkl")
        return path if os.path.exists(path) else None


def _read_logs(work_dir: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = []
    for path in sorted(glob.glob(os.path.join(glob.escape(work_dir), "*.log.json"))):
        with open(path) as file:
            records += [r for r in map(json.loads, file) if r.get("mode") in ("train", "val")]
    per_epoch = max(
        (r["iter"] for r in records if r["mode"] == "train" and r["epoch"] == 1), default=1
    )
    for record in records:
        record["x"] = (
            record["epoch"] - 1 + record["iter"] / per_epoch
            if record["mode"] == "train"
            else record["epoch"]
        )
    return [r for r in records if r["mode"] == "train"], [r for r in records if r["mode"] == "val"]


def load_experiments(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[Experiment]:
    """Experiments from a sweep folder (every recorded run, named ``<setting>/seed_<s>``) or
    from work dirs (named by their folder), in the order given."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    experiments = []
    for path in (os.fspath(p) for p in paths):
        if not os.path.isdir(path):
            raise FileNotFoundError(f"no run or sweep folder {path}")
        runs = sorted(glob.glob(os.path.join(glob.escape(path), "**", RUN_RECORD), recursive=True))
        if runs and not os.path.exists(os.path.join(path, RUN_RECORD)):
            folders = [(os.path.dirname(r), read_json(r)["status"]) for r in runs]
            grid_json = os.path.join(path, "grid.json")
            if os.path.exists(grid_json):
                order = {g["folder"]: i for i, g in enumerate(read_json(grid_json))}
                folders.sort(key=lambda f: order.get(os.path.relpath(f[0], path), len(order)))
            named = [(os.path.relpath(folder, path), folder, status) for folder, status in folders]
        else:
            named = [(os.path.basename(os.path.normpath(path)), path, "done")]
        for name, folder, status in named:
            train, val = _read_logs(folder)
            experiments.append(Experiment(name, folder, train, val, final_metrics(folder), status))
    return experiments


def plot_curves(
    experiments: Sequence[Experiment], key: str = "loss", mode: str = "train", ax: Any = None
) -> Any:
    """``key`` of every experiment's ``mode`` records against epochs, overlaid; the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for experiment in experiments:
        points = [
            (r["x"], r[key])
            for r in getattr(experiment, mode)
            if isinstance(r.get(key), (int, float))
        ]
        if points:
            ax.plot(
                *zip(*points),
                marker="o" if mode == "val" or len(points) < 20 else None,
                label=experiment.name,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{mode} {key}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def metrics_rows(
    experiments: Sequence[Experiment], metrics: Sequence[str] = ("bbox_mAP", "segm_mAP")
) -> list[dict[str, Any]]:
    """``{experiment, status, <metric>...}`` per experiment from its final metrics."""
    return [
        {"experiment": e.name, "status": e.status, **{m: e.final.get(m) for m in metrics}}
        for e in experiments
    ]


def class_ap_rows(experiments: Sequence[Experiment], metric: str = "bbox") -> list[dict[str, Any]]:
    """``{class, <experiment>: AP...}`` per class from the ``<metric>_AP_<class>`` entries."""
    prefix = f"{metric}_AP_"
    classes = list(
        dict.fromkeys(
            k[len(prefix) :] for e in experiments for k in e.final if k.startswith(prefix)
        )
    )
    return [
        {"class": name, **{e.name: e.final.get(prefix + name) for e in experiments}}
        for name in classes
    ]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a markdown table (floats with 3 decimals, missing as ``—``)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_class_aps(experiments: Sequence[Experiment], metric: str = "bbox", ax: Any = None) -> Any:
    """Grouped bars: per-class AP of every experiment side by side (nan drawn as 0); one
    experiment's chart is ``detkit.viz.plot_class_ap``."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = class_ap_rows(experiments, metric)
    if not rows:
        raise KeyError(
            f"no {metric}_AP_<class> entries in the final metrics: evaluate with classwise=True"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, len(rows) * 1.1), 3.5))
    width = 0.8 / max(len(experiments), 1)
    positions = np.arange(len(rows))
    for i, experiment in enumerate(experiments):
        values = [row.get(experiment.name) for row in rows]
        values = [0.0 if v is None or v != v else v for v in values]
        ax.bar(
            positions + (i - (len(experiments) - 1) / 2) * width,
            values,
            width,
            label=experiment.name,
        )
    ax.set_xticks(positions, [row["class"] for row in rows], rotation=30)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"{metric} AP")
    ax.legend(fontsize="small")
    return ax
