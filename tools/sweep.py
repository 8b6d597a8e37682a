"""Batch-train with papermill: run a notebook once per grid combination
(``detkit.experiments.sweep``).

    python tools/sweep.py nbs/04_train_and_evaluate.ipynb --grid grid.yaml [--out-dir DIR]
        [--metrics bbox_mAP segm_mAP] [--kernel detkit] [--retry-failed] [--timeout S]

Each run writes its executed notebook and work dir to ``DIR/<setting>/seed_<s>/``; finished
runs are skipped when the command is run again (resume after a kill), failed ones are recorded
and the sweep goes on. ``DIR/summary.md`` (and ``summary.csv``, ``runs.csv``) hold the final
metrics, mean ± std over seeds. The grid format is described in ``detkit.experiments.grid``.
"""

from __future__ import annotations

import argparse
import os
import sys

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="run a notebook once per parameter combination (papermill)"
    )
    parser.add_argument("notebook", help="the notebook, e.g. nbs/04_train_and_evaluate.ipynb")
    parser.add_argument("--grid", required=True, help="YAML grid: fixed / grid / variants / seeds")
    parser.add_argument(
        "--out-dir", help="sweep folder (default: work_dirs/sweeps/<grid file name>)"
    )
    parser.add_argument(
        "--metrics", nargs="+", default=["bbox_mAP", "segm_mAP"], help="final metrics to summarise"
    )
    parser.add_argument("--kernel", default="detkit", help="Jupyter kernel name (default: detkit)")
    parser.add_argument(
        "--cwd", help="working directory of the notebooks (default: the current one)"
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again the runs recorded as failed"
    )
    parser.add_argument("--timeout", type=int, help="seconds one cell may run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out_dir or os.path.join(
        "work_dirs", "sweeps", os.path.splitext(os.path.basename(args.grid))[0]
    )
    rows = detkit.experiments.sweep(
        args.notebook,
        args.grid,
        out_dir,
        metrics=args.metrics,
        kernel_name=args.kernel,
        cwd=args.cwd,
        retry_failed=args.retry_failed,
        timeout=args.timeout,
    )
    print(f"summary: {os.path.join(out_dir, 'summary.md')}")
    return 1 if any(row["failed"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
