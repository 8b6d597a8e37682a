"""CPU thread settings that hold up on a busy machine.

PyTorch's CPU kernels run on an OpenMP pool. Between parallel regions GNU OpenMP's threads
spin-wait (up to ~300k spins) before sleeping; when other processes hold the cores, the
spinning threads steal the time the working ones need. ``OMP_WAIT_POLICY=PASSIVE`` (GNU
OpenMP) and ``KMP_BLOCKTIME=0`` (Intel OpenMP) make them sleep at once. OpenMP reads these
when it loads (``import torch``), so they belong in the environment that starts Python:
``make`` exports them and the ``detkit`` Jupyter kernel is installed with them; see
:data:`PASSIVE_WAIT_ENV`.

Thread counts: the main process runs ``torch.get_num_threads()`` threads (PyTorch's default:
the physical cores, or ``OMP_NUM_THREADS``); :func:`configure_threads` sets it, by default to
the cores this process may run on. DataLoader workers run one thread each (PyTorch sets it in
every worker), so data loading does not multiply the pool.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from detkit.ops.cpu import CpuCapability, probe_cpu

__all__ = ["PASSIVE_WAIT_ENV", "ThreadSettings", "configure_threads", "default_threads",
           "thread_settings"]

# environment that makes idle OpenMP threads sleep instead of spinning
PASSIVE_WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


@dataclass(frozen=True)
class ThreadSettings:
    """The thread configuration in effect.

    Attributes:
        torch_threads: intra-op threads of the main process.
        interop_threads: inter-op threads of the main process.
        data_worker_threads: intra-op threads per DataLoader worker (PyTorch sets 1).
        cpus: logical CPUs this process may run on.
        omp_num_threads, omp_wait_policy, kmp_blocktime: the environment variables
            (``'unset'`` where not set).
    """

    torch_threads: int
    interop_threads: int
    data_worker_threads: int
    cpus: int
    omp_num_threads: str
    omp_wait_policy: str
    kmp_blocktime: str

    @property
    def passive_wait(self) -> bool:
        """Idle OpenMP threads sleep instead of spin-waiting."""
        return self.omp_wait_policy.upper() == "PASSIVE" or self.kmp_blocktime == "0"

    def summary(self) -> str:
        """One line for logs and ``make demo``."""
        wait = "passive" if self.passive_wait else "spin (set OMP_WAIT_POLICY=PASSIVE)"
        return (f"torch threads {self.torch_threads} (interop {self.interop_threads}), "
                f"data workers {self.data_worker_threads} thread each, {self.cpus} CPUs | "
                f"OMP_NUM_THREADS={self.omp_num_threads} OMP_WAIT_POLICY={self.omp_wait_policy} "
                f"KMP_BLOCKTIME={self.kmp_blocktime} | OpenMP wait: {wait}")

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
    return ThreadSettings(torch_threads=torch.get_num_threads(),
                          interop_threads=torch.get_num_interop_threads(), data_worker_threads=1,
                          cpus=probe_cpu().cpus, omp_num_threads=env("OMP_NUM_THREADS", "unset"),
                          omp_wait_policy=env("OMP_WAIT_POLICY", "unset"),
                          kmp_blocktime=env("KMP_BLOCKTIME", "unset"))


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
