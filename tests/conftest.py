"""Shared pytest set-up: few torch threads (2-core CI machines), no GUI backend.

The Agg backend is selected in this process only: an MPLBACKEND environment variable would
leak into the papermill/JupyterLab kernels the tests start, and there it would stop
``plt.show()`` from putting figures into the notebooks.
"""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.pop("MPLBACKEND", None)

import torch  # noqa: E402

torch.set_num_threads(1)
