"""CPU thread settings that hold up on a quiet and on a busy machine.

PyTorch's CPU kernels run on an OpenMP pool (GNU OpenMP in PyTorch's wheels). Between parallel
regions its threads spin-wait (libgomp's default: 300k spins) before they sleep. On a busy
machine the spinning threads steal the time the working ones need; on a quiet one they also
steal the cores of NNPACK's own thread pool. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``)
fixes both but pays a wake-up per region. A bounded spin, ``GOMP_SPINCOUNT=3000``, covers the
short gaps between kernels and then sleeps (``python bench/threads.py``; the figures are in the
docs' CPU speed page). ``KMP_BLOCKTIME=0`` is Intel OpenMP's
setting, for builds that use it. OpenMP reads these when it loads (``import torch``), so they
belong in the environment that starts Python: ``make`` exports :data:`BOUNDED_WAIT_ENV` and the
``detkit`` Jupyter kernel is installed with it. :func:`openmp_wait` classifies an environment
the way libgomp reads it (``GOMP_SPINCOUNT`` over ``OMP_WAIT_POLICY``); the kernel tuner's cache
is keyed by it (:mod:`detkit.ops.tuning_cache`): at two threads or more it moves where NNPACK
pays.

Thread counts: the main process runs ``torch.get_num_threads()`` threads (PyTorch's default:
the physical cores, or ``OMP_NUM_THREADS``); :func:`configure_threads` sets it, by default to
the cores this process may run on. DataLoader workers run one thread each (PyTorch sets it in
every worker), so data loading does not multiply the pool.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from detkit.ops.cpu import CpuCapability, probe_cpu

__all__ = [
    "BOUNDED_WAIT_ENV",
    "OpenMPWait",
    "ThreadSettings",
    "configure_threads",
    "default_threads",
    "openmp_wait",
    "process_openmp_wait",
    "thread_settings",
]

# environment under which idle OpenMP threads spin ~0.1 ms, then sleep
BOUNDED_WAIT_ENV = {"GOMP_SPINCOUNT": "3000", "KMP_BLOCKTIME": "0"}

OpenMPWait = Literal["spin", "bounded", "passive"]
# spin counts up to this (about 1 ms here) count as a bounded spin
_BOUNDED_SPINS = 30_000
_SPIN_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def openmp_wait(env: Mapping[str, str] | None = None) -> OpenMPWait:
    """How GNU OpenMP's idle threads wait under ``env`` (default ``os.environ``):
    ``'passive'`` (sleep at once), ``'bounded'`` (spin at most ~1 ms) or ``'spin'`` (libgomp's
    default ~10 ms, or longer). ``GOMP_SPINCOUNT`` (a count, optionally with a k/M/G/T suffix,
    or ``infinite``) takes precedence over ``OMP_WAIT_POLICY``, as in libgomp."""
    env = os.environ if env is None else env
    count = env.get("GOMP_SPINCOUNT", "").strip().lower()
    if count:
        number, suffix = (count[:-1], count[-1]) if count[-1] in "kmgt" else (count, "")
        if not number.isdigit():
            return "spin"  # 'infinite' / 'infinity', or a value libgomp ignores (its default)
        spins = int(number) * _SPIN_SUFFIXES[suffix]
        return "passive" if spins == 0 else "bounded" if spins <= _BOUNDED_SPINS else "spin"
    return "passive" if env.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE" else "spin"


@functools.cache
def process_openmp_wait() -> OpenMPWait:
    """:func:`openmp_wait` of this process, read once (OpenMP read its environment when torch
    loaded; later changes to ``os.environ`` do not reach it)."""
    return openmp_wait()


@dataclass(frozen=True)
class ThreadSettings:
    """The thread configuration in effect.

    Attributes:
        torch_threads: intra-op threads of the main process.
        interop_threads: inter-op threads of the main process.
        data_worker_threads: intra-op threads per DataLoader worker (PyTorch sets 1).
        cpus: logical CPUs this process may run on.
        omp_num_threads, omp_wait_policy, gomp_spincount, kmp_blocktime: the environment
            variables (``'unset'`` where not set).
    """

    torch_threads: int
    interop_threads: int
    data_worker_threads: int
    cpus: int
    omp_num_threads: str
    omp_wait_policy: str
    gomp_spincount: str
    kmp_blocktime: str

    @property
    def openmp_wait(self) -> OpenMPWait:
        """How idle OpenMP threads wait under these variables (:func:`openmp_wait`)."""
        return openmp_wait(
            {
                name: value
                for name, value in (
                    ("OMP_WAIT_POLICY", self.omp_wait_policy),
                    ("GOMP_SPINCOUNT", self.gomp_spincount),
                )
                if value != "unset"
            }
        )

    def summary(self) -> str:
        """One line for logs and ``make demo``."""
        wait: str = self.openmp_wait
        if wait == "spin":
            wait = "spin (set GOMP_SPINCOUNT=3000 for a bounded spin)"
        return (
            f"torch threads {self.torch_threads} (interop {self.interop_threads}), "
            f"data workers {self.data_worker_threads} thread each, {self.cpus} CPUs | "
            f"OMP_NUM_THREADS={self.omp_num_threads} OMP_WAIT_POLICY={self.omp_wait_policy} "
            f"GOMP_SPINCOUNT={self.gomp_spincount} KMP_BLOCKTIME={self.kmp_blocktime} | "
            f"OpenMP wait: {wait}"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_threads(capability: CpuCapability | None = None) -> int:
    """Intra-op threads for the main process: the physical cores among the CPUs this process
    may run on (hyper-threads add nothing to GEMM-bound convolutions)."""
    cap = capability if capability is not None else probe_cpu()
    return max(1, min(cap.cpus, cap.physical_cores))


def thread_settings() -> ThreadSettings:
    """The settings in effect now (nothing is changed)."""
    env = os.environ.get
    return ThreadSettings(
        torch_threads=torch.get_num_threads(),
        interop_threads=torch.get_num_interop_threads(),
        data_worker_threads=1,
        cpus=probe_cpu().cpus,
        omp_num_threads=env("OMP_NUM_THREADS", "unset"),
        omp_wait_policy=env("OMP_WAIT_POLICY", "unset"),
        gomp_spincount=env("GOMP_SPINCOUNT", "unset"),
        kmp_blocktime=env("KMP_BLOCKTIME", "unset"),
    )


def configure_threads(num_threads: int | None = None) -> ThreadSettings:
    """Set the main process's intra-op threads to ``num_threads`` (default: ``OMP_NUM_THREADS``
    when set, else :func:`default_threads`) and return the settings in effect."""
    if num_threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        num_threads = int(env) if env.isdigit() and int(env) > 0 else default_threads()
    if num_threads < 1:
        raise ValueError(f"configure_threads: num_threads must be >= 1, got {num_threads}")
    torch.set_num_threads(num_threads)
    return thread_settings()
