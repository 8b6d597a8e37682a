"""Sweep summaries: each run's final metrics, then mean ± std over the seeds of a setting.

Files written to the sweep folder:

- ``runs.csv``: one row per run: ``setting, seed, status, seconds, <metrics>..., folder``.
- ``summary.csv``: one row per setting: ``setting, runs, done, failed`` and
  ``<metric>_mean``, ``<metric>_std`` (sample std over the done seeds, ddof=1; empty with one).
- ``summary.md``: the same as a markdown table, ``mean ± std`` per metric.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from detkit.io import read_json, write_text

__all__ = [
    "RUN_RECORD",
    "final_metrics",
    "format_markdown",
    "read_runs",
    "summarize",
    "write_summary",
]

RUN_RECORD = "sweep_run.json"


def _newest(paths: list[str]) -> str | None:
    return max(paths, key=os.path.getmtime) if paths else None


def final_metrics(work_dir: str) -> dict[str, Any]:
    """The run's final metrics: its newest ``eval_*.json`` (``tools/test.py``, nb04), else the
    last ``mode: 'val'`` record of its newest ``*.log.json``; ``{}`` if neither."""
    eval_json = _newest(glob.glob(os.path.join(glob.escape(work_dir), "eval_*.json")))
    if eval_json is not None:
        return dict(read_json(eval_json).get("metric", {}))
    log_json = _newest(glob.glob(os.path.join(glob.escape(work_dir), "*.log.json")))
    last: dict[str, Any] = {}
    if log_json is not None:
        with open(log_json) as file:
            for line in file:
                record = json.loads(line)
                if record.get("mode") == "val":
                    last = record
    return {k: v for k, v in last.items() if k not in ("mode", "epoch", "iter", "lr")}


def read_runs(
    out_dir: str, metrics: Sequence[str] = ("bbox_mAP", "segm_mAP")
) -> list[dict[str, Any]]:
    """One row per run recorded under ``out_dir`` (in grid order when ``grid.json`` is there)."""
    records = []
    for path in glob.glob(os.path.join(glob.escape(out_dir), "**", RUN_RECORD), recursive=True):
        record = read_json(path)
        folder = os.path.dirname(path)
        found = final_metrics(folder) if record.get("status") == "done" else {}
        row = {
            "setting": record["setting"],
            "seed": record.get("seed"),
            "status": record["status"],
            "seconds": record.get("seconds"),
        }
        row.update({name: found.get(name) for name in metrics})
        row["folder"] = os.path.relpath(folder, out_dir)
        records.append(row)
    order: dict[str, int] = {}
    grid_json = os.path.join(out_dir, "grid.json")
    if os.path.exists(grid_json):
        order = {run["folder"]: i for i, run in enumerate(read_json(grid_json))}
    return sorted(records, key=lambda r: (order.get(r["folder"], len(order)), r["folder"]))


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize(
    runs: list[dict[str, Any]], metrics: Sequence[str] = ("bbox_mAP", "segm_mAP")
) -> list[dict[str, Any]]:
    """Per-setting rows (in first-seen order) with ``<metric>_mean``/``_std`` over done runs."""
    settings: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        settings.setdefault(run["setting"], []).append(run)
    rows = []
    for setting, group in settings.items():
        done = [r for r in group if r["status"] == "done"]
        row: dict[str, Any] = {
            "setting": setting,
            "runs": len(group),
            "done": len(done),
            "failed": sum(r["status"] == "failed" for r in group),
        }
        for name in metrics:
            values = [float(r[name]) for r in done if isinstance(r.get(name), (int, float))]
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(values)
        rows.append(row)
    return rows


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def format_markdown(
    rows: list[dict[str, Any]], metrics: Sequence[str] = ("bbox_mAP", "segm_mAP")
) -> str:
    """The summary rows as a markdown table (``mean ± std``; one seed: the value alone)."""
    lines = [
        "| setting | seeds done | failed | " + " | ".join(metrics) + " |",
        "|---|---:|---:|" + "---:|" * len(metrics),
    ]
    for row in rows:
        cells = [_cell(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics]
        lines.append(
            f"| {row['setting']} | {row['done']}/{row['runs']} | {row['failed']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _write_csv(path: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows([{k: ("" if row.get(k) is None else row[k]) for k in columns} for row in rows])
    write_text(path, text.getvalue(), newline="")


def write_summary(
    out_dir: str,
    metrics: Sequence[str] = ("bbox_mAP", "segm_mAP"),
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Write ``runs.csv``, ``summary.csv`` and ``summary.md`` for the sweep in ``out_dir``;
    returns the summary rows."""
    runs = read_runs(out_dir, metrics)
    _write_csv(
        os.path.join(out_dir, "runs.csv"),
        runs,
        ["setting", "seed", "status", "seconds", *metrics, "folder"],
    )
    rows = summarize(runs, metrics)
    columns = ["setting", "runs", "done", "failed"] + [
        f"{m}_{s}" for m in metrics for s in ("mean", "std")
    ]
    _write_csv(os.path.join(out_dir, "summary.csv"), rows, columns)
    markdown = format_markdown(rows, metrics)
    write_text(os.path.join(out_dir, "summary.md"), markdown)
    if log is not None:
        log(markdown)
    return rows
