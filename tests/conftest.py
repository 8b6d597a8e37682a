"""Shared pytest set-up: few torch threads (2-core CI machines), no GUI backend, a kernel
cache of this session only (``DETKIT_KERNEL_CACHE``: the kernel choices measured by
``detkit.ops`` never come from another run's cache, and subprocesses and notebook kernels
share this one), and the ``run_notebook`` fixture (papermill in the ``detkit`` kernel).

The Agg backend is selected in this process only: an MPLBACKEND environment variable would
leak into the papermill/JupyterLab kernels the tests start, and there it would stop
``plt.show()`` from putting figures into the notebooks.
"""

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.pop("MPLBACKEND", None)
_KERNEL_CACHE = tempfile.mkdtemp(prefix="detkit-kernel-cache-")
os.environ["DETKIT_KERNEL_CACHE"] = _KERNEL_CACHE
atexit.register(shutil.rmtree, _KERNEL_CACHE, ignore_errors=True)

import torch  # noqa: E402
from shared_data import GOLDEN, SEED_TEXT, require_shared  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """``../shared/golden/mmdet_v2_cascade_tiny`` (real MMDetection 2.28.2 outputs); a missing
    directory fails in CI and skips elsewhere (:func:`shared_data.require_shared`)."""
    return require_shared(GOLDEN)


@pytest.fixture(scope="session")
def seed_tutorial() -> Path:
    """The seed tutorial text in ``../shared/seed`` (missing: fails in CI, skips elsewhere)."""
    return require_shared(SEED_TEXT)


@dataclass
class NotebookRun:
    """An executed notebook: its path and the outputs of its code cells, in order."""

    path: Path
    outputs: list[dict[str, Any]]

    @property
    def text(self) -> str:
        """Everything the cells printed."""
        return "".join("".join(o.get("text", "")) for o in self.outputs)

    def with_data(self, mime: str) -> list[dict[str, Any]]:
        """The rich outputs of one MIME type (``image/png``, a widget view, ...)."""
        return [o for o in self.outputs if mime in o.get("data", {})]


@pytest.fixture
def run_notebook(tmp_path: Path) -> Callable[..., NotebookRun]:
    """``run_notebook(name, cwd=REPO, **parameters)`` executes ``nbs/<name>`` headless with
    papermill in the ``detkit`` kernel, writing the executed copy under ``tmp_path``."""
    papermill = pytest.importorskip("papermill")

    def run(name: str, cwd: Path = REPO, **parameters: Any) -> NotebookRun:
        out = tmp_path / name
        papermill.execute_notebook(
            str(REPO / "nbs" / name),
            str(out),
            kernel_name="detkit",
            cwd=str(cwd),
            parameters=parameters,
            progress_bar=False,
        )
        cells = json.loads(out.read_text())["cells"]
        return NotebookRun(
            out, [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
        )

    return run
