"""Alternating wall-clock / CPU-time medians for the bench scripts (``python bench/X.py`` puts
this folder on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["alternate"]


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def alternate(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Warm each run once, then ``repeats`` rounds in turn; ``{name: {"wall_s", "cpu_s"}}``
    medians per run (on a shared machine the wall clock also counts time other processes
    hold the cores)."""
    for fn in runs.values():
        fn()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            samples[name].append(_timed(fn))
    return {
        name: {
            "wall_s": statistics.median(s[0] for s in vals),
            "cpu_s": statistics.median(s[1] for s in vals),
        }
        for name, vals in samples.items()
    }
