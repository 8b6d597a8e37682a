"""The kernel tuner: measured choices, the on-disk cache (round trip, corrupt or foreign files,
concurrent writers), the budget, pinned choices and the report."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from detkit.ops import force_kernels, kernel_decisions, kernel_report, tuner, tuning_cache

_CLOCK = [0.0]  # the tuner's perf_counter in these tests: only the candidates advance it


def _sleeper(seconds: float):
    """A candidate that takes exactly ``seconds`` on the tuner's clock (a busy machine cannot
    reorder the candidates, as it could with real sleeps)."""

    def call() -> float:
        _CLOCK[0] += seconds
        return seconds

    return call


def _never():
    raise AssertionError("a cached or pinned decision must not run the candidates")


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A new process's tuner state, caching in ``tmp_path``; returns a factory for another."""
    monkeypatch.setenv("DETKIT_KERNEL_CACHE", str(tmp_path))
    monkeypatch.delenv("DETKIT_KERNEL_TUNING_BUDGET", raising=False)
    monkeypatch.setattr(tuner, "time", types.SimpleNamespace(perf_counter=lambda: _CLOCK[0]))

    def new_process() -> tuner._State:
        state = tuner._State()
        monkeypatch.setattr(tuner, "_state", state)
        return state

    new_process()
    return new_process


def _cache_file() -> Path:
    path = tuning_cache.cache_file()
    assert path is not None
    return path


def test_fastest_candidate_is_taken_cached_and_reused_by_the_next_process(fresh):
    candidates = {"pytorch": _sleeper(0.004), "fast": _sleeper(0.001), "slow": _sleeper(0.02)}
    assert tuner.choose("op_a", "shape1", candidates) == "fast"
    entry = json.loads(_cache_file().read_text())["decisions"]["op_a|shape1|t" + _threads()]
    assert entry["choice"] == "fast"
    assert entry["times_ms"]["fast"] < entry["times_ms"]["pytorch"]
    # run() returns the chosen candidate's result
    assert tuner.run("op_a", "shape2", candidates) == 0.001
    fresh()  # a new process: the decision comes from the file, nothing is run
    assert tuner.choose("op_a", "shape1", {"pytorch": _never, "fast": _never}) == "fast"
    [decision] = kernel_decisions()
    assert decision.source == "cache" and decision.choice == "fast"


def _threads() -> str:
    import torch

    return str(torch.get_num_threads())


def test_a_tie_keeps_the_reference():
    """Another candidate is taken only when it measured at least 3 % faster than the first
    (timed ties on a busy machine would otherwise move decisions away from stock)."""
    assert tuner._winner({"pytorch": 1.0, "other": 0.98}) == "pytorch"
    assert tuner._winner({"pytorch": 1.0, "other": 0.96, "third": 0.99}) == "other"
    assert tuner._winner({"pytorch": 1.0, "other": 1.2}) == "pytorch"


def test_crop_times_are_scaled_to_the_whole_input(fresh):
    tuner.choose("op_c", "s", {"pytorch": _sleeper(0.004), "fast": _sleeper(0.001)}, scale=8.0)
    [decision] = kernel_decisions()
    assert decision.times_ms["pytorch"] > 8 * 3.5


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": 99, "decisions": {}}), "not a detkit kernel cache"),
        ("FOREIGN", "another machine"),
    ],
)
def test_corrupt_or_foreign_cache_is_ignored_with_a_warning_and_rewritten(fresh, content, problem):
    path = _cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "FOREIGN":
        other = dict(tuning_cache.fingerprint(), cpu="Some Other CPU")
        entry = {"choice": "fast", "times_ms": {}}
        key = f"op_d|s|t{_threads()}"
        content = json.dumps({"format": 1, "fingerprint": other, "decisions": {key: entry}})
    path.write_text(content)
    with pytest.warns(RuntimeWarning, match=problem):
        choice = tuner.choose("op_d", "s", {"pytorch": _sleeper(0.001), "fast": _sleeper(0.004)})
    assert choice == "pytorch"  # measured, not read from the file
    data = json.loads(path.read_text())
    assert data["fingerprint"] == tuning_cache.fingerprint()
    assert data["decisions"][f"op_d|s|t{_threads()}"]["choice"] == "pytorch"


def _write_many(path: str, worker: int) -> None:
    machine = tuning_cache.fingerprint()
    for i in range(25):
        entry = {"choice": f"w{worker}", "times_ms": {"pytorch": 1.0}}
        tuning_cache.merge_and_save(Path(path), machine, {f"w{worker}|{i}": entry})


def test_concurrent_writers_lose_no_entry(fresh):
    path = _cache_file()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), w)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    decisions = json.loads(path.read_text())["decisions"]
    assert len(decisions) == 75
    assert not list(path.parent.glob("*.tmp"))  # every temporary file was renamed


def test_budget_spent_runs_the_reference_and_caches_nothing(fresh, monkeypatch):
    monkeypatch.setenv("DETKIT_KERNEL_TUNING_BUDGET", "0")
    assert tuner.choose("op_e", "s", {"pytorch": lambda: 1, "fast": _never}) == "pytorch"
    assert kernel_decisions()[0].source == "budget"
    assert not _cache_file().exists()
    monkeypatch.setenv("DETKIT_KERNEL_TUNING_BUDGET", "soon")
    with pytest.raises(ValueError, match="DETKIT_KERNEL_TUNING_BUDGET"):
        tuner.choose("op_e", "t", {"pytorch": lambda: 1, "fast": _never})


def test_pinned_choices_and_the_fallback_to_the_reference(fresh):
    with force_kernels(op_f="fast"):
        assert tuner.choose("op_f", "s", {"pytorch": _never, "fast": _never}) == "fast"
        # a pin that does not apply to this call: the reference
        assert tuner.choose("op_f", "t", {"pytorch": _never, "other": _never}) == "pytorch"
    assert not _cache_file().exists()
    assert tuner.choose("op_f", "s", {"pytorch": _sleeper(0.001), "fast": _sleeper(0.005)}) == (
        "pytorch"
    )


def test_pins_from_the_environment_and_their_errors(tmp_path):
    script = "from detkit.ops import switch; print(switch.forced_kernel('conv3x3'))"
    env = dict(os.environ, DETKIT_KERNELS="conv3x3=nnpack, linear=pytorch")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "nnpack", run.stderr[-2000:]
    env["DETKIT_KERNELS"] = "conv3x3"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "DETKIT_KERNELS" in run.stderr


def test_cache_off_keeps_decisions_in_memory(fresh, monkeypatch, tmp_path):
    monkeypatch.setenv("DETKIT_KERNEL_CACHE", "off")
    fresh()
    assert tuner.choose("op_g", "s", {"pytorch": _sleeper(0.004), "fast": _sleeper(0.001)}) == (
        "fast"
    )
    assert tuner.choose("op_g", "s", {"pytorch": _never, "fast": _never}) == "fast"
    assert not list(tmp_path.iterdir())
    assert "off (memory only)" in kernel_report()


def test_unwritable_cache_warns_once_and_keeps_measuring(fresh, monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DETKIT_KERNEL_CACHE", str(blocker / "cache"))
    fresh()
    with pytest.warns(RuntimeWarning, match="cannot be written"):
        tuner.choose("op_h", "s", {"pytorch": _sleeper(0.001), "fast": _sleeper(0.004)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tuner.choose("op_h", "t", {"pytorch": _sleeper(0.001), "fast": _sleeper(0.004)})
        assert tuner.choose("op_h", "s", {"pytorch": _never, "fast": _never}) == "pytorch"


def test_default_cache_is_in_the_user_cache_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("DETKIT_KERNEL_CACHE")
    path = tuning_cache.cache_file()
    assert path is not None and path.parent == Path(platformdirs.user_cache_dir("detkit"))
    assert path.name.startswith("kernels-") and path.suffix == ".json"


def test_report_lists_every_decision_with_its_source(fresh):
    tuner.choose("op_i", "big", {"pytorch": _sleeper(0.003), "fast": _sleeper(0.001)})
    with force_kernels(op_j="pytorch"):
        tuner.choose("op_j", "small", {"pytorch": _never, "fast": _never})
    report = kernel_report()
    assert "fast kernels on" in report and str(_cache_file()) in report
    assert "op_i 1 (fast 1); op_j 1 (pytorch 1)" in report
    rows = [line for line in report.splitlines() if line.startswith("op_")]
    assert len(rows) == 2 and "measured" in rows[0] and rows[1].endswith("forced")
    assert "op_i" not in kernel_report(verbose=False).split("choices:")[0]


def test_a_dispatch_mode_sees_only_the_reference_kernel(fresh):
    """Under ``FlopCounterMode`` (the FLOP counts of ``get_flops`` and ``compare_necks``) the
    tuner neither measures (the mode would count every candidate) nor records: PyTorch's kernel
    runs and the shape is measured later."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False):
        assert tuner.choose("op_m", "s", {"pytorch": _never, "fast": _never}) == "pytorch"
    assert kernel_decisions() == [] and not _cache_file().exists()
    assert tuner.choose("op_m", "s", {"pytorch": _sleeper(0.004), "fast": _sleeper(0.001)}) == (
        "fast"
    )
