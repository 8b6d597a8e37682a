"""An image's ground truth and detections side by side, coloured by what went wrong: the
picture of the error browser (:mod:`detkit.viz.error_browser`), drawn with the one instance
renderer (:func:`detkit.viz.raster.draw_instances_into`).

Masks take their class's colour (:func:`~detkit.viz.draw.make_palette`, as every drawing of
detkit); boxes take the class colour when right (a matched ground truth, a true positive) and
the error's colour when not (``KIND_COLORS``). A matched pair carries the same ``#n`` on both
sides and the detection its IoU; a confusion names the class it covers and the overlap
(intersection over the detection's area, the COCO crowd rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from detkit.viz.draw import make_palette
from detkit.viz.raster import draw_instances_into

__all__ = ["KIND_COLORS", "KIND_TAGS", "PanelInstances", "instance_names", "render_error_pair"]

# RGB in [0, 1]; the kinds of detkit.analysis.coco_error_counts (and "miss"/"crowd" for GT)
KIND_COLORS: dict[str, tuple[float, float, float]] = {
    "miss": (0.86, 0.08, 0.24),
    "bg": (0.86, 0.08, 0.24),
    "loc": (1.0, 0.55, 0.0),
    "sim": (0.58, 0.0, 0.83),
    "oth": (0.58, 0.0, 0.83),
    "duplicate": (0.80, 0.70, 0.0),
    "ignored": (0.55, 0.55, 0.55),
    "crowd": (0.55, 0.55, 0.55),
}
KIND_TAGS = {
    "miss": "MISS",
    "bg": "BG",
    "loc": "LOC",
    "sim": "CONF",
    "oth": "CONF",
    "duplicate": "DUP",
    "ignored": "IGN",
    "crowd": "crowd",
}
GAP = 8  # white pixels between the panels


@dataclass
class PanelInstances:
    """The instances of one panel.

    Attributes:
        boxes: ``[N, 4]`` xyxy in image pixels.
        labels: ``[N]`` 0-based classes.
        kinds: ``N`` kinds: ``'tp'``/``'matched'`` (right), ``'miss'``, ``'crowd'`` or a
            detection error (``KIND_COLORS`` keys).
        pairs: ``[N]`` the ``#n`` shared by a matched ground truth and its detection (0: none).
        scores: ``[N]`` detection scores (None for ground truth).
        overlaps: ``[N]`` IoU with the matched (or nearest) ground truth; for a confusion the
            coverage of the other class's ground truth (NaN: not shown).
        confused: ``[N]`` the class a confusion covers (-1: none).
        masks: ``(x0, y0, bool window)`` per instance, in order (may be empty: boxes only).
    """

    boxes: np.ndarray
    labels: np.ndarray
    kinds: Sequence[str]
    pairs: np.ndarray
    scores: np.ndarray | None = None
    overlaps: np.ndarray | None = None
    confused: np.ndarray | None = None
    masks: Iterable[tuple[int, int, np.ndarray]] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.labels)


def _class_name(class_names: Sequence[str], label: int) -> str:
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def instance_names(items: PanelInstances, class_names: Sequence[str]) -> list[str]:
    """The label text of each instance, e.g. ``#3 car 0.93 IoU 0.82``, ``LOC car 0.61 IoU
    0.32``, ``CONF bus 0.55 on truck 0.90``, ``MISS person``."""
    names = []
    for n in range(len(items)):
        kind, label = items.kinds[n], int(items.labels[n])
        parts = [f"#{int(items.pairs[n])}" if items.pairs[n] else KIND_TAGS.get(kind, "")]
        parts.append(_class_name(class_names, label))
        if items.scores is not None:
            parts.append(f"{float(items.scores[n]):.2f}")
        overlap = np.nan if items.overlaps is None else float(items.overlaps[n])
        confused = -1 if items.confused is None else int(items.confused[n])
        if kind in ("sim", "oth") and confused >= 0:
            parts.append(f"on {_class_name(class_names, confused)} {overlap:.2f}")
        elif not np.isnan(overlap):
            parts.append(f"IoU {overlap:.2f}")
        names.append(" ".join(p for p in parts if p))
    return names


def _colors(items: PanelInstances, palette: np.ndarray) -> np.ndarray:
    return np.array(
        [
            KIND_COLORS.get(kind, tuple(palette[int(label) % len(palette)]))
            for kind, label in zip(items.kinds, items.labels)
        ],
        float,
    ).reshape(-1, 3)


def _panel(
    img_rgb: np.ndarray, items: PanelInstances, class_names: Sequence[str], palette: np.ndarray
) -> np.ndarray:
    canvas = np.array(img_rgb, dtype=np.uint8)
    mask_colors = palette[np.asarray(items.labels, np.int64) % len(palette)].reshape(-1, 3)
    return draw_instances_into(
        canvas,
        np.asarray(items.boxes, np.float64).reshape(-1, 4),
        _colors(items, palette),
        instance_names(items, class_names),
        items.masks,
        mask_colors=mask_colors,
    )


def render_error_pair(
    img_rgb: np.ndarray,
    ground_truth: PanelInstances,
    detections: PanelInstances,
    class_names: Sequence[str],
    max_width: int | None = 1600,
) -> np.ndarray:
    """Ground truth (left) and detections (right) drawn on copies of ``img_rgb`` (HWC uint8
    RGB), ``GAP`` white pixels apart; returns ``(H', W', 3)`` uint8, scaled down (never up)
    to ``max_width`` pixels wide (None: full size)."""
    palette = make_palette(max(len(class_names), 1))
    left = _panel(img_rgb, ground_truth, class_names, palette)
    right = _panel(img_rgb, detections, class_names, palette)
    gap = np.full((left.shape[0], GAP, 3), 255, np.uint8)
    pair = np.concatenate([left, gap, right], axis=1)
    if max_width is not None and pair.shape[1] > max_width:
        height = max(1, round(pair.shape[0] * max_width / pair.shape[1]))
        pair = np.asarray(
            Image.fromarray(pair).resize((max_width, height), Image.Resampling.BILINEAR)
        )
    return pair
