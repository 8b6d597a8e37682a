"""Live ipywidgets UI for the augmentation preview (notebook 03).

Controls: policy (Rotate / Translate / the config's AutoAugment / the other MMDetection v2
transforms of :mod:`detkit.viz.transform_menu`, whose main arguments follow level, prob and
fill), level, prob, direction (sign), translate axis, fill colour, random seed and sample
picker; every change redraws the
original and the augmented sample side by side in an ``Output`` widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure

from detkit.viz.preview import DIRECTIONS, POLICIES, augment_sample, make_policy, show_pair

__all__ = ["AugmentationPreview", "build_augmentation_ui"]


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    if len(color) != 6:
        raise ValueError(f"fill colour must be '#rrggbb', got {color!r}")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


class AugmentationPreview:
    """The preview UI: ``widget`` to display, ``controls`` by name, ``render()`` for the
    current choice, ``last_figure`` for the latest drawing.

    Args:
        samples: loaded results dicts (see :func:`~detkit.viz.preview.load_preview_samples`).
        class_names: names indexed by label.
        policies: the config's AutoAugment policies (enables that choice).
    """

    def __init__(
        self,
        samples: Sequence[dict[str, Any]],
        class_names: Sequence[str],
        policies: list[list[dict]] | None = None,
    ) -> None:
        if not samples:
            raise ValueError("AugmentationPreview needs at least one sample")
        self.samples = list(samples)
        self.class_names = list(class_names)
        self.policies = policies
        choices = [p for p in POLICIES if policies or p != "AutoAugment (config)"]
        self.controls: dict[str, widgets.ValueWidget] = {
            "policy": widgets.Dropdown(options=choices, value="Rotate", description="policy"),
            "level": widgets.FloatSlider(value=5, min=0, max=10, step=0.5, description="level"),
            "prob": widgets.FloatSlider(value=1.0, min=0, max=1, step=0.05, description="prob"),
            "direction": widgets.Dropdown(options=DIRECTIONS, value="positive", description="sign"),
            "axis": widgets.Dropdown(
                options=["horizontal", "vertical"], value="horizontal", description="axis"
            ),
            "fill": widgets.ColorPicker(value="#68747c", description="fill (RGB)"),
            "seed": widgets.IntText(value=0, description="seed"),
            "sample": widgets.IntSlider(
                value=0, min=0, max=len(self.samples) - 1, description="sample"
            ),
        }
        self.output = widgets.Output()
        self.last_figure: Figure | None = None
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.controls[k] for k in ("policy", "level", "prob")]),
                widgets.HBox([self.controls[k] for k in ("direction", "axis", "fill")]),
                widgets.HBox([self.controls[k] for k in ("seed", "sample")]),
                self.output,
            ]
        )

    def render(self) -> Figure:
        """Draw the current choice (original | augmented) and return the figure."""
        c = {k: w.value for k, w in self.controls.items()}
        transform = make_policy(
            c["policy"],
            c["level"],
            c["prob"],
            c["direction"],
            c["axis"],
            _hex_to_rgb(c["fill"]),
            self.policies,
            self.samples,
        )
        sample = self.samples[c["sample"]]
        augmented = augment_sample(sample, transform, c["seed"])
        title = f"{c['policy']} level {c['level']:g} prob {c['prob']:g} seed {c['seed']}"
        # Outside pyplot's interactive mode and closed at once, the figure is drawn only by
        # ``refresh``: the inline backend's end-of-execution flush (which may run in a kernel
        # subshell thread while this one still draws) neither shows it twice nor half-drawn.
        with plt.ioff():
            self.last_figure = show_pair(sample, augmented, self.class_names, title)
        plt.close(self.last_figure)
        return self.last_figure

    def refresh(self) -> None:
        """Redraw into the ``Output`` widget, the augmented panel's title also as text.

        The outputs are set on the widget's ``outputs`` trait in one assignment rather than
        captured with ``with self.output:``: capture makes headless clients (nbclient, so
        papermill) echo every captured figure back to the kernel, which stalled cells with
        full-size figures; the trait is what JupyterLab renders either way.
        """
        figure = self.render()
        formatter = InteractiveShell.instance().display_formatter
        assert formatter is not None  # an InteractiveShell always has one
        data, metadata = formatter.format(figure)
        self.output.outputs = (
            {"output_type": "stream", "name": "stdout", "text": figure.axes[1].get_title() + "\n"},
            {"output_type": "display_data", "data": data, "metadata": metadata},
        )

    def _on_change(self, change: dict[str, Any]) -> None:
        self.refresh()


def build_augmentation_ui(
    samples: Sequence[dict[str, Any]],
    class_names: Sequence[str],
    policies: list[list[dict]] | None = None,
) -> AugmentationPreview:
    """Build the preview and draw its first state; display ``preview.widget``."""
    preview = AugmentationPreview(samples, class_names, policies)
    preview.refresh()
    return preview
