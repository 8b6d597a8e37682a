"""Experiments: papermill sweeps over a notebook's parameters, their summaries (mean ± std
over seeds) and run comparisons (curves, metrics, per-class AP, confusion matrices)."""

from detkit.experiments.compare import (
    Experiment,
    class_ap_rows,
    format_table,
    load_experiments,
    metrics_rows,
    plot_class_aps,
    plot_curves,
)
from detkit.experiments.confusion import experiment_confusion
from detkit.experiments.grid import SweepRun, expand_grid, load_grid
from detkit.experiments.summary import (
    final_metrics,
    format_markdown,
    read_runs,
    summarize,
    write_summary,
)
from detkit.experiments.sweep import sweep

__all__ = [
    "Experiment",
    "SweepRun",
    "class_ap_rows",
    "expand_grid",
    "experiment_confusion",
    "final_metrics",
    "format_markdown",
    "format_table",
    "load_experiments",
    "load_grid",
    "metrics_rows",
    "plot_class_aps",
    "plot_curves",
    "read_runs",
    "summarize",
    "sweep",
    "write_summary",
]
