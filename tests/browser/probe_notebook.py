"""A small notebook that exercises what the project's notebooks rely on in the front end:
ipywidgets controls (Dropdown ``policy``, IntSlider ``level``, IntText ``seed``) driving an
Output widget with a matplotlib image and a parameter line, and a fastprogress master bar with a
live loss plot. It lets the browser test check JupyterLab itself, independent of ``nbs/``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

DETKIT_KERNELSPEC = {"name": "detkit", "display_name": "detkit (.venv)", "language": "python"}

IMPORTS = """\
%matplotlib inline
import time

import ipywidgets as widgets
import numpy as np
from fastprogress import master_bar, progress_bar
from IPython.display import display
from matplotlib.figure import Figure"""

# The image depends on all three controls, so each change must re-render it. The figure is not
# a pyplot one: the inline backend's end-of-execution flush, which may run in a kernel subshell
# thread, would draw it a second time, concurrently.
WIDGET_PREVIEW = """\
policy = widgets.Dropdown(options=["Rotate", "Translate"], value="Rotate", description="policy")
level = widgets.IntSlider(value=1, min=0, max=10, description="level")
seed = widgets.IntText(value=0, description="seed")
preview = widgets.Output()

def render(*_):
    pattern = np.random.default_rng(seed.value).random((12, 12))
    if policy.value == "Rotate":
        pattern = np.rot90(pattern, level.value)
    else:
        pattern = np.roll(pattern, level.value, axis=1)
    with preview:
        preview.clear_output(wait=True)
        print(f"policy={policy.value} level={level.value} seed={seed.value}")
        figure = Figure(figsize=(2.5, 2.5))
        axes = figure.subplots()
        axes.imshow(pattern, cmap="viridis")
        axes.set_axis_off()
        display(figure)

for control in (policy, level, seed):
    control.observe(render, names="value")
render()
display(widgets.VBox([policy, level, seed, preview]))"""

# Like a training run: a master bar over epochs, a child bar over steps, a live loss plot and a
# line written per epoch (which replaces the bars when the loop ends).
TRAINING_LOOP = """\
epochs = master_bar(range(2))
losses = []
for epoch in epochs:
    for step in progress_bar(range(4), parent=epochs):
        time.sleep(0.1)
        losses.append(1.0 / (1 + len(losses)))
    epochs.update_graph([[np.arange(len(losses)), losses]], [0, 8], [0, 1.1])
    epochs.write(f"epoch {epoch}: loss {losses[-1]:.3f}")"""


def write_probe_notebook(path: Path) -> Path:
    """Write the probe notebook (kernel ``detkit``, no outputs) to ``path`` and return ``path``."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = DETKIT_KERNELSPEC
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            "# Front-end probe\nWidgets, an Output image and fastprogress."
        ),
        nbformat.v4.new_code_cell(IMPORTS),
        nbformat.v4.new_code_cell(WIDGET_PREVIEW),
        nbformat.v4.new_code_cell(TRAINING_LOOP),
    ]
    nbformat.write(notebook, path)
    return path
