"""``sweep``: run a notebook once per grid combination with papermill.

Each run gets a folder ``<out_dir>/<setting>/seed_<s>/`` that is also its ``work_dir``
notebook parameter, holding the executed notebook and ``sweep_run.json`` (``status``
``'done'``/``'failed'``, the parameters, seconds, the error). A run whose record says done is
skipped, so a killed sweep resumes where it stopped (an unfinished run starts over in an
emptied folder); a failed run is recorded and the sweep goes on (``retry_failed`` runs it
again). After the runs, ``runs.csv``, ``summary.csv`` and ``summary.md`` are written (see
:mod:`detkit.experiments.summary`).
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detkit.experiments.grid import SweepRun, expand_grid
from detkit.experiments.summary import RUN_RECORD, write_summary
from detkit.io import read_json, write_json

__all__ = ["sweep"]


def _read_status(folder: str) -> str | None:
    try:
        status = read_json(os.path.join(folder, RUN_RECORD)).get("status")
    except (OSError, ValueError):
        return None
    return status if isinstance(status, str) else None


def _execute(
    notebook: str,
    run: SweepRun,
    folder: str,
    kernel_name: str | None,
    cwd: str | None,
    timeout: int | None,
) -> None:
    import papermill

    output = os.path.join(folder, os.path.basename(notebook))
    papermill.execute_notebook(
        notebook,
        output,
        parameters={**run.parameters, "work_dir": folder},
        kernel_name=kernel_name,
        cwd=cwd,
        progress_bar=False,
        execution_timeout=timeout,
    )


def sweep(
    notebook: str | os.PathLike[str],
    grid: str | os.PathLike[str] | Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    metrics: Sequence[str] = ("bbox_mAP", "segm_mAP"),
    kernel_name: str | None = "detkit",
    cwd: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    timeout: int | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``notebook`` for every run of ``grid`` (see :mod:`detkit.experiments.grid`).

    Args:
        notebook: the notebook (e.g. ``nbs/04_train_and_evaluate.ipynb``); it must take a
            ``work_dir`` parameter (and ``seed`` when the grid has seeds).
        grid: a YAML file or the same dict.
        out_dir: the sweep folder (created).
        metrics: the final metrics summarised (read from each run's newest
            ``eval_*.json``, else the last val record of its JSON log).
        kernel_name: the Jupyter kernel (None: the notebook's own).
        cwd: the notebooks' working directory (default: the current one).
        retry_failed: run again the runs recorded as failed.
        timeout: seconds a cell may run (None: no limit).
        log: where progress lines go.

    Returns: the per-setting summary rows (``summary.csv``).
    """
    notebook, out_dir = os.fspath(notebook), os.path.abspath(os.fspath(out_dir))
    if not os.path.isfile(notebook):
        raise FileNotFoundError(f"sweep notebook {notebook} does not exist")
    runs = expand_grid(grid)
    os.makedirs(out_dir, exist_ok=True)
    write_json(
        os.path.join(out_dir, "grid.json"),
        [
            {"setting": r.setting, "seed": r.seed, "folder": r.folder, "parameters": r.parameters}
            for r in runs
        ],
        indent=1,
        default=str,
    )
    for index, run in enumerate(runs, 1):
        folder = os.path.join(out_dir, run.folder)
        status = _read_status(folder)
        name = f"[{index}/{len(runs)}] {run.folder}"
        if status == "done" or (status == "failed" and not retry_failed):
            log(f"{name}: {status} before, skipped")
            continue
        if os.path.isdir(folder):
            shutil.rmtree(folder)  # an unfinished (killed) or retried run starts over
        os.makedirs(folder)
        record: dict[str, Any] = {
            "setting": run.setting,
            "seed": run.seed,
            "parameters": run.parameters,
            "notebook": notebook,
        }
        start = time.time()
        try:
            _execute(
                notebook,
                run,
                folder,
                kernel_name,
                os.fspath(cwd) if cwd is not None else None,
                timeout,
            )
        except Exception as error:  # noqa: BLE001 - any failure of one run is recorded, the sweep goes on
            record.update(
                status="failed",
                seconds=round(time.time() - start, 1),
                error=f"{type(error).__name__}: {error}"[-2000:],
                traceback=traceback.format_exc()[-8000:],
            )
            log(
                f"{name}: failed after {record['seconds']} s ({type(error).__name__}); see {folder}"
            )
        else:
            record.update(status="done", seconds=round(time.time() - start, 1))
            log(f"{name}: done in {record['seconds']} s")
        write_json(os.path.join(folder, RUN_RECORD), record, indent=1, default=str)
    return write_summary(out_dir, metrics, log=log)
