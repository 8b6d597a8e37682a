"""Kernel choice by measurement on this machine, like cuDNN's ``benchmark`` mode.

The first time an op meets a shape class (layer kind, channels, spatial size and batch in
size classes, dtype, layout; plus the thread count), :func:`choose` times its
candidate kernels on that input and keeps the fastest; the decision goes to the on-disk cache
(:mod:`detkit.ops.tuning_cache`), so later processes on the same machine, torch and OpenMP wait
measure nothing. The first candidate is the reference (PyTorch's own kernel): another one is
taken only when it measured at least 3 % faster, so noise does not move a tie away from stock.

How long: the candidates run in turn (the order rotating each round), each sample the
shortest of as many calls as fill 1 ms (other processes only ever add time); rounds stop after
two when 20 ms have passed, after one when a round took over 50 ms and the winner is at least
1.3× faster than the rest, and after six rounds or 1 s at most. A candidate more than 2×
slower than the best is dropped after its first run. Large inputs are timed on a crop
(:mod:`detkit.ops.shape_class`), so one decision costs at most a few tenths of a second.
All measuring in a process is capped by a budget, ``DETKIT_KERNEL_TUNING_BUDGET`` seconds
(default :data:`DEFAULT_BUDGET_S`); past it, shapes not in the cache run PyTorch's kernel and
are measured by a later process. The first measurement of a process is logged once (logger
``detkit.ops``); :func:`kernel_report` lists what was chosen, measured and spent.

Every candidate of an op computes the same result to float rounding (tested per kernel), so
a decision changes speed only. :func:`detkit.ops.switch.force_kernels` pins a choice;
``fast_kernels(False)`` bypasses all of this (stock PyTorch).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import torch

from detkit.ops import tuning_cache
from detkit.ops.cpu import probe_cpu
from detkit.ops.switch import fast_kernels_enabled, forced_kernel
from detkit.ops.threads import process_openmp_wait

__all__ = [
    "DEFAULT_BUDGET_S",
    "KernelDecision",
    "cached_choice",
    "choose",
    "kernel_decisions",
    "kernel_report",
    "run",
]

T = TypeVar("T")
Source = Literal["measured", "cache", "forced", "budget"]

DEFAULT_BUDGET_S = 5.0
_MARGIN = 0.97  # another candidate must take under 97 % of the reference's time
_SAMPLE_S = 1e-3
_MIN_S, _LONG_S, _MAX_S = 0.02, 0.05, 1.0
_MAX_ROUNDS = 6
_LOG = logging.getLogger("detkit.ops")


@dataclass(frozen=True)
class KernelDecision:
    """One op's choice for one shape class.

    Attributes:
        op: the op (``conv3x3``, ``conv3x3_input_grad``, ``linear``, ...).
        shape: its shape class (see the op's module).
        threads: torch threads when it was chosen.
        choice: the candidate taken.
        times_ms: best time per candidate measured (estimated for the whole input where a
            crop was timed); empty for forced or budget decisions.
        source: ``measured`` in this process, from the ``cache``, ``forced`` by hand, or
            ``budget`` (tuning budget spent: PyTorch's kernel, not cached).
        cost_s: seconds spent measuring it in this process.
    """

    op: str
    shape: str
    threads: int
    choice: str
    times_ms: dict[str, float] = field(default_factory=dict)
    source: Source = "measured"
    cost_s: float = 0.0


class _State:
    """Process-wide decisions (loaded lazily), what this process used and spent."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.loaded = False
        self.machine: dict[str, str] = {}
        self.path: Path | None = None
        self.table: dict[str, tuning_cache.Entry] = {}
        self.used: dict[str, KernelDecision] = {}
        self.spent_s = 0.0
        self.measured = 0
        self.depth = 0
        self.logged_start = self.logged_budget = self.warned_write = False

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        self.machine = tuning_cache.fingerprint()
        self.path = tuning_cache.cache_file(self.machine)
        if self.path is not None:
            self.table = tuning_cache.load(self.path, self.machine)

    def save(self, key: str, entry: tuning_cache.Entry) -> None:
        self.table[key] = entry
        if self.path is None:
            return
        try:
            self.table = {
                **tuning_cache.merge_and_save(self.path, self.machine, {key: entry}),
                **self.table,
            }
        except OSError as exc:
            if not self.warned_write:
                self.warned_write = True
                warnings.warn(
                    f"detkit kernel cache {self.path} cannot be written ({exc}): decisions are "
                    "kept for this process only (set DETKIT_KERNEL_CACHE to a writable folder)",
                    RuntimeWarning,
                    stacklevel=4,
                )


_state = _State()


def budget_s() -> float:
    """Seconds of measuring allowed per process (``DETKIT_KERNEL_TUNING_BUDGET``)."""
    text = os.environ.get("DETKIT_KERNEL_TUNING_BUDGET", "").strip()
    try:
        return float(text) if text else DEFAULT_BUDGET_S
    except ValueError:
        raise ValueError(
            f"DETKIT_KERNEL_TUNING_BUDGET must be a number of seconds, got {text!r}"
        ) from None


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The shortest of ``repeats`` timed calls of ``fn`` (other processes only ever add time)
    and the last call's result."""
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _measure(
    candidates: Mapping[str, Callable[[], object]], warmup: bool
) -> tuple[dict[str, float], dict[str, object]]:
    """Best seconds per candidate and each candidate's last result (see the module docstring
    for the stopping rules)."""
    names = list(candidates)
    if warmup:  # nested decisions are made here, outside the timing
        for name in names:
            candidates[name]()
    best = dict.fromkeys(names, math.inf)
    results: dict[str, object] = {}
    repeats: dict[str, int] = {}
    live = list(names)
    start = time.perf_counter()
    for round_ in range(_MAX_ROUNDS):
        shift = round_ % len(live)
        for name in live[shift:] + live[:shift]:
            seconds, results[name] = _timed(candidates[name], repeats.get(name, 1))
            best[name] = min(best[name], seconds)
            repeats.setdefault(name, max(1, min(64, math.ceil(_SAMPLE_S / max(seconds, 1e-7)))))
        fastest = min(best[name] for name in live)
        live = [name for name in live if best[name] <= 2 * fastest]
        clear = all(best[name] >= 1.3 * fastest for name in live if best[name] > fastest)
        elapsed = time.perf_counter() - start
        if elapsed >= _MAX_S or (round_ >= 1 and elapsed >= _MIN_S):
            break
        if round_ == 0 and elapsed >= _LONG_S and clear:
            break
    return best, results


def _winner(best: Mapping[str, float]) -> str:
    """The fastest candidate, unless it is within the margin of the first (the reference)."""
    reference = next(iter(best))
    fastest = min(best, key=lambda name: best[name])
    return fastest if best[fastest] < _MARGIN * best[reference] else reference


def _record(key: str, decision: KernelDecision) -> str:
    _state.used.setdefault(key, decision)
    return decision.choice


def _decide(
    op: str,
    shape: str,
    candidates: Mapping[str, Callable[[], object]],
    scale: float,
    warmup: bool,
) -> tuple[str, object | None]:
    """(choice, the chosen candidate's result when it was run while measuring)."""
    if len(candidates) == 1:  # nothing to choose (e.g. NNPACK may not run now)
        return next(iter(candidates)), None
    reference = next(iter(candidates))
    threads = torch.get_num_threads()
    key = f"{op}|{shape}|t{threads}"
    forced = forced_kernel(op)
    if forced is not None:
        choice = forced if forced in candidates else reference
        return _record(key, KernelDecision(op, shape, threads, choice, source="forced")), None
    if torch._C._len_torch_dispatch_stack() > 0:
        # a dispatch mode (FlopCounterMode, a tracer) sees every call: PyTorch's kernel (the
        # one such modes know), neither measured nor recorded (measured when no mode is active)
        return reference, None
    with _state.lock:
        _state.load()
        entry = _state.table.get(key)
        if entry is not None:
            times = {k: float(v) for k, v in entry.get("times_ms", {}).items()}
            choice = entry["choice"]
            if choice not in candidates:  # e.g. NNPACK's pool has another size now
                usable = {k: v for k, v in times.items() if k in candidates}
                choice = min(usable, key=lambda k: usable[k]) if usable else reference
            return _record(key, KernelDecision(op, shape, threads, choice, times, "cache")), None
        if _state.spent_s >= budget_s():
            if not _state.logged_budget:
                _state.logged_budget = True
                _LOG.info(
                    "detkit.ops: kernel tuning budget (%.1f s) spent; shapes not measured yet "
                    "run PyTorch's kernels in this process",
                    budget_s(),
                )
            return _record(
                key, KernelDecision(op, shape, threads, reference, source="budget")
            ), None
        if not _state.logged_start:
            _state.logged_start = True
            _LOG.info(
                "detkit.ops: measuring CPU kernels for shapes not in the cache %s (at most "
                "%.1f s in this process; detkit.ops.kernel_report() lists the choices)",
                _state.path,
                budget_s(),
            )
        _state.depth += 1
        start = time.perf_counter()
        try:
            with torch.autograd.profiler.record_function(f"detkit.ops.tune:{op}"):
                best, results = _measure(candidates, warmup)
        finally:
            _state.depth -= 1
            cost = time.perf_counter() - start
            if _state.depth == 0:
                _state.spent_s += cost
        _state.measured += 1
        choice = _winner(best)
        times = {k: round(v * scale * 1e3, 4) for k, v in best.items() if math.isfinite(v)}
        _state.save(key, {"choice": choice, "times_ms": times})
        _record(key, KernelDecision(op, shape, threads, choice, times, "measured", cost))
        return choice, results.get(choice)


def choose(
    op: str,
    shape: str,
    candidates: Mapping[str, Callable[[], object]],
    scale: float = 1.0,
    warmup: bool = False,
) -> str:
    """The candidate ``op`` takes for inputs of the shape class ``shape``: pinned by hand,
    cached, or measured now by calling ``candidates`` (name -> a call on a representative
    input; the first is the reference, PyTorch's kernel, taken where a pin does not apply or
    the budget is spent). ``scale`` converts the measured
    times to the whole input's (a crop was timed); ``warmup`` runs every candidate once
    before timing (candidates that make nested decisions)."""
    return _decide(op, shape, candidates, scale, warmup)[0]


def cached_choice(
    op: str, shape: str, candidates: Mapping[str, Callable[[], object]]
) -> str | None:
    """The choice pinned by hand or cached for ``op`` and ``shape`` (among ``candidates``),
    None where it would have to be measured."""
    threads = torch.get_num_threads()
    forced = forced_kernel(op)
    if forced is not None:
        return forced if forced in candidates else next(iter(candidates))
    with _state.lock:
        _state.load()
        entry = _state.table.get(f"{op}|{shape}|t{threads}")
    return entry["choice"] if entry is not None and entry["choice"] in candidates else None


def run(op: str, shape: str, candidates: Mapping[str, Callable[[], T]]) -> T:
    """The result of the candidate :func:`choose` takes, where ``candidates`` are calls on the
    real input (a measurement's run of the winner is reused)."""
    choice, result = _decide(op, shape, candidates, 1.0, False)
    return result if result is not None else candidates[choice]()  # type: ignore[return-value]


def kernel_decisions() -> list[KernelDecision]:
    """The decisions this process used, in first-use order."""
    with _state.lock:
        return list(_state.used.values())


def _summary(decisions: list[KernelDecision]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for d in decisions:
        per_op = counts.setdefault(d.op, {})
        per_op[d.choice] = per_op.get(d.choice, 0) + 1
    return "; ".join(
        f"{op} {sum(c.values())} ({', '.join(f'{k} {n}' for k, n in sorted(c.items()))})"
        for op, c in counts.items()
    )


def kernel_report(verbose: bool = True) -> str:
    """What detkit's CPU kernels are doing in this process: the switch, the cache file, the
    tuning cost so far and, per op, how many shape classes took each candidate; with
    ``verbose`` one row per decision: the time of the choice and its ratio to the reference
    candidate's (PyTorch's kernel; per-RoI convolutions for ``roi_mosaic``)."""
    with _state.lock:
        _state.load()
        decisions = list(_state.used.values())
        lines = [
            f"detkit kernels: fast kernels {'on' if fast_kernels_enabled() else 'OFF (stock)'} | "
            f"{probe_cpu().model or 'CPU'} | torch {torch.__version__} | OpenMP wait "
            f"{process_openmp_wait()} | {torch.get_num_threads()} thread(s)",
            f"cache: {_state.path or 'off (memory only)'} ({len(_state.table)} decisions) | "
            f"measured in this process: {_state.measured} shape classes in "
            f"{_state.spent_s:.2f} s (budget {budget_s():.1f} s)",
            f"choices: {_summary(decisions) or 'none yet'}",
        ]
    if verbose and decisions:
        lines.append(
            f"{'op':22} {'shape class':34} {'thr':>3} {'choice':16} {'ms':>9} {'/ ref.':>9} from"
        )
        for d in decisions:
            mine, stock = d.times_ms.get(d.choice), next(iter(d.times_ms.values()), None)
            ratio = f"{mine / stock:9.2f}" if mine is not None and stock else f"{'':9}"
            ms = f"{mine:9.2f}" if mine is not None else f"{'':9}"
            cost = f" ({d.cost_s:.2f} s)" if d.source == "measured" else ""
            lines.append(
                f"{d.op:22} {d.shape:34} {d.threads:3d} {d.choice:16} {ms} {ratio} {d.source}{cost}"
            )
    return "\n".join(lines)
