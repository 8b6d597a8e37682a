"""The error browser: an ipywidgets view of a result set's errors (notebook 07).

    browser = detkit.analysis.browse_errors("configs/x.py", "results.pkl", split="val")
    browser.widget                      # display it

Controls: class, error kind, score threshold, IoU threshold and what is matched (boxes or
masks). The image list ranks the images with that error (most first, then lowest AP; or all
by per-image AP); selecting one draws its ground truth and detections side by side
(:func:`~detkit.viz.error_panels.render_error_pair`). Below, the per-class table and the
confusion matrix are buttons: a click filters the list by that class and error (a confusion
cell also by the class confused with).

The page holds one drawn image (the selected one); everything else is text. The numbers come
from an :class:`ErrorSource` (``detkit.analysis.ErrorAnalysis``), which matches once and
caches.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Protocol

import ipywidgets as widgets
import numpy as np
from PIL import Image

from detkit.viz.draw import make_palette
from detkit.viz.error_panels import KIND_COLORS, PanelInstances, render_error_pair

__all__ = ["ErrorBrowser", "ErrorSource"]

TABLE_ERRORS = ("localisation", "confusion", "duplicate", "background", "miss")
_LEGEND = (
    ("matched (class colour, #n pairs)", None),
    ("miss", "miss"),
    ("background", "bg"),
    ("localisation", "loc"),
    ("confusion", "oth"),
    ("duplicate", "duplicate"),
)


class ErrorSource(Protocol):
    """What the browser reads (``detkit.analysis.ErrorAnalysis`` provides it)."""

    class_names: tuple[str, ...]
    ERROR_KINDS: tuple[str, ...]
    IOU_THRESHOLDS: tuple[float, ...]

    def iou_types(self) -> list[str]: ...
    def classified(self, iou_type: str, iou_thr: float, score_thr: float) -> Any: ...
    def ranking(
        self, view: Any, error: str, label: int | None = None, confused_with: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def image_ap(self, iou_type: str = "bbox") -> np.ndarray: ...
    def class_table(self, view: Any) -> list[dict[str, Any]]: ...
    def confusion(self, view: Any) -> np.ndarray: ...
    def image_name(self, index: int) -> str: ...
    def panels(
        self, view: Any, index: int
    ) -> tuple[np.ndarray, PanelInstances, PanelInstances]: ...


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(255 * v)):02x}" for v in rgb[:3])


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _cell(text: str, tooltip: str, color: str | None = None, bold: bool = False) -> Any:
    button = widgets.Button(
        description=text, tooltip=tooltip, layout=widgets.Layout(width="auto", height="26px")
    )
    if color:
        button.style.button_color = color
    if bold:
        button.style.font_weight = "bold"
    return button


class ErrorBrowser:
    """The widget (``widget``) over ``errors``; ``controls`` by name, ``image_list``,
    ``picture`` (the drawn image), ``table`` and ``matrix`` (button grids), ``status``.

    Args:
        errors: the result set (see :class:`ErrorSource`).
        score_thr: initial score threshold; iou_thr: initial IoU threshold (one of
            ``errors.IOU_THRESHOLDS``); max_width: width of the drawn pair in pixels.
    """

    def __init__(
        self,
        errors: ErrorSource,
        score_thr: float = 0.3,
        iou_thr: float = 0.5,
        max_width: int = 1400,
    ) -> None:
        self.errors = errors
        self.max_width = max_width
        self.palette = make_palette(max(len(errors.class_names), 1))
        classes = [("all classes", -1), *((n, k) for k, n in enumerate(errors.class_names))]
        self.controls: dict[str, Any] = {
            "class": widgets.Dropdown(options=classes, value=-1, description="class"),
            "error": widgets.Dropdown(
                options=list(errors.ERROR_KINDS), value="any error", description="error"
            ),
            "score thr": widgets.FloatSlider(
                value=score_thr, min=0, max=1, step=0.05, description="score thr"
            ),
            "IoU thr": widgets.Dropdown(
                options=[(f"{t:.2f}", t) for t in errors.IOU_THRESHOLDS],
                value=min(errors.IOU_THRESHOLDS, key=lambda t: abs(t - iou_thr)),
                description="IoU thr",
            ),
            "match on": widgets.Dropdown(
                options=errors.iou_types(), value=errors.iou_types()[0], description="match on"
            ),
        }
        self.confused_with: int | None = None
        self.image_list = widgets.Select(
            options=[], rows=18, description="image", layout=widgets.Layout(width="380px")
        )
        self.picture = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.picture_title = widgets.HTML()
        self.status = widgets.HTML()
        self.table = widgets.GridBox()
        self.matrix = widgets.GridBox()
        self.view: Any = None
        self.order = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self._quiet = False
        self._build_tables()
        for name, control in self.controls.items():
            handler = self._on_filter if name in ("class", "error") else self._on_control
            control.observe(handler, "value")
        self.image_list.observe(self._on_image, "value")
        legend = " ".join(
            f'<span style="color:{_hex(KIND_COLORS[k]) if k else "#444"}">&#9632; {text}</span>'
            for text, k in _LEGEND
        )
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.controls[k] for k in ("class", "error", "score thr")]),
                widgets.HBox([self.controls[k] for k in ("IoU thr", "match on")]),
                self.status,
                widgets.HBox(
                    [
                        self.image_list,
                        widgets.VBox([self.picture_title, widgets.HTML(legend), self.picture]),
                    ]
                ),
                widgets.HTML("<b>Per class</b> (click a count to list those images)"),
                self.table,
                widgets.HTML(
                    "<b>Confusion matrix</b> (row: ground truth, column: detected class; "
                    "click a cell to list those images)"
                ),
                self.matrix,
            ]
        )
        self.refresh()

    # -- state -----------------------------------------------------------------------------
    @property
    def label(self) -> int | None:
        value = self.controls["class"].value
        return None if value < 0 else int(value)

    def select(
        self,
        label: int | None = None,
        error: str | None = None,
        confused_with: int | None = None,
    ) -> None:
        """Set the class and error filters (and the confused-with class) at once, then
        refresh (what a click in the table or the matrix does)."""
        self._quiet = True
        try:
            self.controls["class"].value = -1 if label is None else label
            if error is not None:
                self.controls["error"].value = error
        finally:
            self._quiet = False
        self.confused_with = confused_with
        self.refresh()

    def refresh(self) -> None:
        """Recompute the view of the current controls; redraw the list, tables and image."""
        c = {name: control.value for name, control in self.controls.items()}
        self.view = self.errors.classified(c["match on"], c["IoU thr"], c["score thr"])
        self.order, self.counts = self.errors.ranking(
            self.view, c["error"], self.label, self.confused_with
        )
        ap = self.errors.image_ap(c["match on"])
        names = [self.errors.image_name(int(i)) for i in self.order]
        options = [
            (f"{r + 1:>3}. {name}  {self.counts[i]} err  AP {ap[i]:.2f}", int(i))
            for r, (i, name) in enumerate(zip(self.order, names))
        ]
        what = self.errors.class_names[self.label] if self.label is not None else "all classes"
        if self.confused_with is not None:
            what += f" on {self.errors.class_names[self.confused_with]}"
        self.status.value = (
            f"<b>{len(options)}</b> of {len(ap)} images with <b>{c['error']}</b> "
            f"({what}), {int(self.counts.sum())} in all · IoU &ge; {c['IoU thr']:.2f}, "
            f"score &ge; {c['score thr']:.2f}, {c['match on']} matching"
        )
        self._quiet = True
        try:
            self.image_list.options = options
            self.image_list.value = options[0][1] if options else None
        finally:
            self._quiet = False
        self._draw_tables()
        self.draw()

    # -- drawing ---------------------------------------------------------------------------
    def draw(self) -> None:
        """Draw the selected image (or say that none is selected)."""
        index = self.image_list.value
        if index is None:  # hidden: an empty <img> would show as a broken image
            self.picture.layout.display = "none"
            self.picture_title.value = "<i>no image has this error</i>"
            return
        self.picture.layout.display = None
        image, ground_truth, detections = self.errors.panels(self.view, index)
        pair = render_error_pair(
            image, ground_truth, detections, self.errors.class_names, self.max_width
        )
        self.picture.value = _png(pair)
        missed = sum(k == "miss" for k in ground_truth.kinds)
        wrong = sum(k not in ("tp", "ignored") for k in detections.kinds)
        ap = self.errors.image_ap(self.view.matching.iou_type)[index]
        self.picture_title.value = (
            f"<b>{self.errors.image_name(index)}</b> (AP {ap:.2f}) · left: ground truth, "
            f"{len(ground_truth)} ({missed} missed) · right: detections &ge; "
            f"{self.view.score_thr:.2f}, {len(detections)} ({wrong} errors)"
        )

    def _build_tables(self) -> None:
        """The button grids, made once (a refresh changes their texts and colours)."""
        names = list(self.errors.class_names)
        num = len(names)
        header = ["class", "GT", "det", "TP", *TABLE_ERRORS, "AP"]
        self._header = widgets.HTML("<b>AP</b>")
        cells: list[Any] = [widgets.HTML(f"<b>{h}</b>") for h in header[:-1]] + [self._header]
        self._table_cells: list[dict[str, Any]] = []
        for k, name in enumerate(names):
            row = {"class": _cell(name, f"{name}: any error", _hex(self.palette[k]), bold=True)}
            row["class"].on_click(self._click(k, "any error"))
            row.update(gt=widgets.HTML(), detections=widgets.HTML(), tp=widgets.HTML())
            for error in TABLE_ERRORS:
                row[error] = _cell("", f"{name}: {error}")
                row[error].on_click(self._click(k, error))
            row["AP"] = widgets.HTML()
            self._table_cells.append(row)
            cells += list(row.values())
        self.table.children = cells
        self.table.layout = widgets.Layout(
            grid_template_columns=f"repeat({len(header)}, max-content)", grid_gap="2px 6px"
        )
        cells = [widgets.HTML("")] + [widgets.HTML(f"<b>{n}</b>") for n in [*names, "missed"]]
        self._matrix_cells: dict[tuple[int, int], Any] = {}
        for g in range(num + 1):
            row_name = names[g] if g < num else "background"
            cells.append(widgets.HTML(f"<b>{row_name}</b>"))
            for p in range(num + 1):
                if g == num and p == num:
                    cells.append(widgets.HTML(""))
                    continue
                column_name = names[p] if p < num else "missed"
                button = _cell("", f"{row_name} -> {column_name}")
                button.on_click(self._matrix_click(g, p, num))
                self._matrix_cells[g, p] = button
                cells.append(button)
        self.matrix.children = cells
        self.matrix.layout = widgets.Layout(
            grid_template_columns=f"repeat({num + 2}, max-content)", grid_gap="2px 4px"
        )

    def _draw_tables(self) -> None:
        self._header.value = f"<b>AP@{self.view.iou_thr:.2f}</b>"
        for cells, row in zip(self._table_cells, self.errors.class_table(self.view)):
            for key in ("gt", "detections", "tp"):
                cells[key].value = str(row[key])
            for error in TABLE_ERRORS:
                cells[error].description = str(row[error])
                cells[error].style.button_color = "#f6d5d5" if row[error] else None
            cells["AP"].value = "—" if np.isnan(row["AP"]) else f"{row['AP']:.3f}"
        counts = self.errors.confusion(self.view)
        peak = max(int(counts.max()), 1)
        for (g, p), button in self._matrix_cells.items():
            value = int(counts[g, p])
            shade = 1 - 0.6 * value / peak
            button.description = str(value)
            button.style.button_color = (
                _hex((shade, 1, shade) if g == p else (1, shade, shade)) if value else None
            )

    def _click(self, label: int, error: str) -> Any:
        return lambda _: self.select(label, error)

    def _matrix_click(self, g: int, p: int, num: int) -> Any:
        if g == num:  # background detections of class p
            return self._click(p, "background")
        if p == num:  # misses of class g
            return self._click(g, "miss")
        if g == p:
            return self._click(g, "any error")
        return lambda _: self.select(p, "confusion", confused_with=g)

    # -- events ----------------------------------------------------------------------------
    def _on_control(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.refresh()

    def _on_filter(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.confused_with = None
            self.refresh()

    def _on_image(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.draw()
