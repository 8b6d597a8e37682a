"""The on-disk cache of measured kernel choices (:mod:`detkit.ops.tuner`).

One JSON file per machine fingerprint: the CPU (model name, ``/proc/cpuinfo`` flags, PyTorch's
vectorisation level, ``ONEDNN_MAX_CPU_ISA`` / ``MKL_ENABLE_INSTRUCTIONS`` caps), the torch
version and the OpenMP wait of the process (:func:`detkit.ops.threads.process_openmp_wait`);
each entry's key holds the op, the shape class and the thread count. The file lives in
``$DETKIT_KERNEL_CACHE`` when set (``off`` keeps decisions in memory only), else in the user
cache directory (``platformdirs.user_cache_dir('detkit')``, e.g. ``~/.cache/detkit``).
Delete it to measure again.

A file that cannot be read, is not detkit's format or belongs to another fingerprint (copied
from another machine) is ignored with a warning and replaced at the next write. Writes take an
exclusive lock on ``<file>.lock``, merge what other processes (DDP ranks, parallel jobs) wrote
meanwhile, and replace the file atomically (detkit's atomic writer,
:func:`detkit.io.write_json`: a temporary file in the same folder,
fsync'ed, then ``os.replace``), so concurrent writers neither clash nor lose entries and a
reader never sees half a file.

File layout::

    {"format": 1, "fingerprint": {...},
     "decisions": {"conv3x3|1x256>256|128x256|t1": {"choice": "nnpack",
                                                    "times_ms": {"nnpack": 61.2, ...}}}}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from detkit.io import write_json
from detkit.ops.cpu import probe_cpu
from detkit.ops.threads import process_openmp_wait

__all__ = ["FORMAT", "Entry", "cache_file", "fingerprint", "load", "merge_and_save"]

FORMAT = 1
Entry = dict[str, Any]  # {"choice": str, "times_ms": {candidate: float}}

try:  # POSIX; elsewhere writes are still atomic, merges unlocked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def fingerprint() -> dict[str, str]:
    """What the measured times depend on, besides the op, the shape and the thread count."""
    cap = probe_cpu()
    flags = hashlib.sha256(" ".join(sorted(cap.flags)).encode()).hexdigest()[:16]
    return {
        "cpu": cap.model,
        "cpu_flags_sha256": flags,
        "torch_isa": cap.isa,
        "onednn_max_isa": cap.onednn_max_isa or "",
        "mkl_enable_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", ""),
        "torch": torch.__version__,
        "openmp_wait": process_openmp_wait(),
    }


def cache_file(machine: Mapping[str, str] | None = None) -> Path | None:
    """The cache file of this machine's fingerprint; None when ``DETKIT_KERNEL_CACHE=off``."""
    setting = os.environ.get("DETKIT_KERNEL_CACHE", "").strip()
    if setting.lower() in ("off", "0", "none"):
        return None
    if setting:
        folder = Path(setting).expanduser()
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("detkit"))
    text = json.dumps(dict(machine or fingerprint()), sort_keys=True)
    return folder / f"kernels-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("choice"), str)
        and isinstance(entry.get("times_ms", {}), dict)
        and all(isinstance(v, (int, float)) for v in entry.get("times_ms", {}).values())
    )


def _read(path: Path, machine: Mapping[str, str], warn: bool) -> dict[str, Entry]:
    """The decisions in ``path``; {} (with a warning when ``warn``) when it is missing,
    unreadable, not detkit's format or another fingerprint's."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        problem = f"cannot be read ({exc})"
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            problem = f"is not valid JSON ({exc})"
        else:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                problem = f"is not a detkit kernel cache of format {FORMAT}"
            elif data.get("fingerprint") != dict(machine):
                problem = (
                    f"was written for another machine or torch ({data.get('fingerprint')!r}, "
                    f"this one: {dict(machine)!r})"
                )
            elif not isinstance(data.get("decisions"), dict):
                problem = "has no 'decisions' table"
            else:
                return {k: v for k, v in data["decisions"].items() if _valid_entry(v)}
    if warn:
        warnings.warn(
            f"detkit kernel cache {path} {problem}: ignoring it (kernels are measured again "
            "and the file is rewritten)",
            RuntimeWarning,
            stacklevel=4,
        )
    return {}


def load(path: Path, machine: Mapping[str, str]) -> dict[str, Entry]:
    """The decisions cached in ``path`` for ``machine`` (see the module docstring)."""
    return _read(path, machine, warn=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` (no-op where ``fcntl`` is missing)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(f"{path}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def merge_and_save(
    path: Path, machine: Mapping[str, str], new: Mapping[str, Entry]
) -> dict[str, Entry]:
    """Add ``new`` to the decisions in ``path`` (under the lock, atomically) and return the
    merged table (including entries other processes wrote). Raises OSError when the folder is
    not writable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        merged = {**_read(path, machine, warn=False), **new}
        data = {"format": FORMAT, "fingerprint": dict(machine), "decisions": merged}
        write_json(path, data)
    return merged
