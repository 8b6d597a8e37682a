"""Charts of numbers detkit computes: per-class AP bars of an evaluation and the class and
instance-size histograms of an annotation file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from detkit.viz.draw import make_palette

__all__ = ["AnnotationCounts", "plot_annotation_stats", "plot_class_ap"]


class AnnotationCounts(Protocol):
    """What :func:`plot_annotation_stats` reads (``detkit.data.inspect.AnnotationStats``)."""

    instances_per_class: dict[str, int]
    crowd: int
    sizes: np.ndarray
    size_labels: list[str]
    size_edges: tuple[int, int]


def plot_class_ap(metrics: Mapping[str, Any], metric: str = "bbox", ax: Axes | None = None) -> Axes:
    """Bar chart of the ``<metric>_AP_<class>`` entries of an evaluation (``classwise=True``);
    a class without ground truth (nan) is drawn as 0. Returns the Axes.

    Raises:
        KeyError: the metrics have no per-class entries.
    """
    import matplotlib.pyplot as plt

    prefix = f"{metric}_AP_"
    per_class = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
    if not per_class:
        raise KeyError(f"no {prefix}<class> entries in the metrics: evaluate with classwise=True")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, len(per_class) * 0.9), 3))
    values = [0.0 if v != v else v for v in per_class.values()]
    ax.bar(list(per_class), values, color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"{metric} AP")
    ax.set_title(f"{metric} AP per class (mAP {metrics.get(f'{metric}_mAP', float('nan')):.3f})")
    ax.tick_params(axis="x", rotation=30)
    return ax


def plot_annotation_stats(stats: AnnotationCounts, title: str | None = None) -> Figure:
    """Class histogram (left, in the colours the drawings give each class) and instance-size
    histogram per class (right, COCO's small/medium/large edges dashed)."""
    import matplotlib.pyplot as plt

    fig, (ax_cls, ax_size) = plt.subplots(1, 2, figsize=(12, 3.8))
    names = list(stats.instances_per_class)
    counts = [stats.instances_per_class[n] for n in names]
    colours = make_palette(len(names))
    ax_cls.bar(names, counts, color=colours)
    ax_cls.set_ylabel("instances")
    ax_cls.set_title(f"instances per class ({stats.crowd} crowd regions not shown)")
    ax_cls.tick_params(axis="x", rotation=45)
    if len(stats.sizes):
        bins = np.linspace(0, stats.sizes.max() * 1.05, 25)
        labels = np.array(stats.size_labels)
        data = [stats.sizes[labels == n] for n in names]
        ax_size.hist(data, bins=bins, stacked=True, color=colours, label=names)
        for edge in stats.size_edges:
            ax_size.axvline(edge, color="k", linestyle="--", linewidth=0.8)
        ax_size.legend(fontsize=7, ncol=2)
    ax_size.set_xlabel("instance size sqrt(area) [px]")
    ax_size.set_ylabel("instances")
    ax_size.set_title("instance size distribution (COCO small/medium/large edges dashed)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
