"""Where the training progress is shown: a fastprogress bar and per-epoch table and, in a
notebook, a live plot of the train loss, the val loss and a val metric on one figure.

:class:`~detkit.engine.hooks.progress.ProgressBarHook` drives a view through the methods of
:class:`ProgressView`; :func:`set_view_factory` lets a process show them elsewhere (the
workers of :func:`detkit.launch` send them to the notebook's kernel, which replays them on a
``ProgressView`` of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastprogress.fastprogress import master_bar, progress_bar

from detkit.engine.log import in_notebook

__all__ = ["Curves", "ProgressView", "draw_curves", "make_view", "set_view_factory"]


@dataclass
class Curves:
    """Points ``(iteration, value)``: ``train`` loss per iteration, ``val`` loss per epoch,
    ``metric`` (named ``metric_name``) per evaluation."""

    metric_name: str = "bbox_mAP"
    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    metric: list[tuple[int, float]] = field(default_factory=list)


def draw_curves(curves: Curves, ax: Any) -> Any:
    """Train and val loss (left axis) and the val metric (right axis, 0-1) on ``ax``, with
    title, axis labels and legend; returns the metric's axes (or None)."""
    ax.clear()
    if curves.train:
        ax.plot(*zip(*curves.train), color="tab:blue", linewidth=1, label="train loss")
    if curves.val:
        ax.plot(*zip(*curves.val), "o-", color="tab:orange", label="val loss")
    ax.set(title="training curves", xlabel="iteration", ylabel="loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    right = None
    if curves.metric:
        right = ax.twinx()
        right.plot(*zip(*curves.metric), "s-", color="tab:green", label=f"val {curves.metric_name}")
        right.set(ylabel=f"{curves.metric_name} (0-1)", ylim=(0, 1))
        extra = right.get_legend_handles_labels()
        handles, labels = handles + extra[0], labels + extra[1]
    if handles:
        ax.legend(handles, labels, loc="upper right", fontsize="small")
    return right


class _LivePlot:
    """A matplotlib figure kept up to date in one notebook output (a display handle, PNG)."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(7, 3.6), dpi=90)
        FigureCanvasAgg(self.figure)  # drawn by IPython's formatter, never by pyplot
        self.ax = self.figure.add_subplot()
        self.handle: Any = None

    def update(self, curves: Curves) -> None:
        import io

        from IPython.display import Image, display

        for extra in self.figure.axes[1:]:
            extra.remove()
        draw_curves(curves, self.ax)
        self.figure.tight_layout()
        png = io.BytesIO()  # a PNG of our own: a Figure shows as text until pyplot's backend loads
        self.figure.savefig(png, format="png")
        image = Image(data=png.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)


class ProgressView:
    """fastprogress bars (epochs, iterations), the per-epoch table and, in a notebook, the
    live plot (``plot=None``: only in a notebook)."""

    def __init__(self, plot: bool | None = None) -> None:
        self.master: Any = None
        self.bar: Any = None
        self.plot = _LivePlot() if (in_notebook() if plot is None else plot) else None

    def start(self, epochs: int, done: int, columns: Sequence[str]) -> None:
        self.master = master_bar(range(epochs))
        self.master.update(done)
        self.master.write(list(columns), table=True)

    def epoch_start(self, iterations: int) -> None:
        self.bar = progress_bar(range(iterations), parent=self.master)
        self.bar.update(0)

    def step(self, done: int, comment: str) -> None:
        if self.bar is not None:
            self.bar.comment = comment
            self.bar.update(done)

    def row(self, values: Sequence[str], epochs_done: int) -> None:
        self.master.write(list(values), table=True)
        self.master.update(epochs_done)

    def curves(self, curves: Curves) -> None:
        if self.plot is not None:
            self.plot.update(curves)

    def finish(self) -> None:
        """Close the bars; a run that ended early (stopped) shows its table as a full one."""
        if self.master is not None and self.master.main_bar.last_v is not None:
            self.master.main_bar.on_iter_end()
        self.master = self.bar = None


_factory: Callable[[], Any] = ProgressView


def set_view_factory(factory: Callable[[], Any] | None) -> None:
    """Make this process's progress views with ``factory`` (None: ``ProgressView``)."""
    global _factory
    _factory = factory or ProgressView


def make_view() -> Any:
    """A progress view from this process's factory."""
    return _factory()
