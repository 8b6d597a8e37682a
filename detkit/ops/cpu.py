"""What this CPU can do, and the low-precision choice that follows from it.

:func:`probe_cpu` reads the machine once (PyTorch's vectorisation level
``torch.backends.cpu.get_cpu_capability()``, the ``/proc/cpuinfo`` flags, the CPUs this process
may run on, a ``ONEDNN_MAX_CPU_ISA`` cap). The policies take that :class:`CpuCapability` as an
input, so they can be asked about any machine:

* :func:`cpu_autocast_dtype`: bfloat16 (or float16) CPU autocast only where the CPU computes it
  natively (AVX-512 BF16 / AMX, AVX-512 FP16 / AMX-FP16, Arm BF16). Elsewhere oneDNN emulates
  it, several times slower than float32 (``bench/kernels.py``, row
  ``bf16_autocast_vs_fp32_conv3x3_*``); detkit then warns once and runs float32.
* :func:`cpu_autocast`: the ``torch.autocast('cpu')`` context with that choice.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

__all__ = ["CpuCapability", "cpu_autocast", "cpu_autocast_dtype", "probe_cpu"]

# /proc/cpuinfo flags meaning the CPU multiplies in this type natively (x86, then Arm)
_NATIVE_FLAGS = {
    torch.bfloat16: ("avx512_bf16", "amx_bf16", "bf16"),
    torch.float16: ("avx512_fp16", "amx_fp16", "fphp"),
}
# ONEDNN_MAX_CPU_ISA values (oneDNN's names, lower case) at or above which oneDNN uses them
_ONEDNN_NATIVE = {
    torch.bfloat16: (
        "avx512_core_bf16",
        "avx512_core_fp16",
        "avx512_core_amx",
        "avx512_core_amx_fp16",
        "avx10_1_512",
        "avx10_1_512_amx",
        "avx10_1_512_amx_fp16",
        "avx10_2_512",
        "avx10_2_512_amx_2",
        "all",
    ),
    torch.float16: (
        "avx512_core_fp16",
        "avx512_core_amx_fp16",
        "avx10_1_512_amx_fp16",
        "avx10_2_512",
        "avx10_2_512_amx_2",
        "all",
    ),
}


@dataclass(frozen=True)
class CpuCapability:
    """One machine's CPU as detkit's policies see it.

    Attributes:
        isa: PyTorch's vectorisation level (``'AVX512'``, ``'AVX2'``, ``'DEFAULT'``, ...).
        flags: ``/proc/cpuinfo`` feature flags (lower case; empty where not readable).
        model: the CPU's name.
        cpus: logical CPUs this process may run on (its affinity mask).
        physical_cores: cores behind them (``cpus`` where not known).
        onednn_max_isa: ``ONEDNN_MAX_CPU_ISA`` (lower case) when set, else ``None``.
    """

    isa: str
    flags: frozenset[str] = field(default_factory=frozenset)
    model: str = ""
    cpus: int = 1
    physical_cores: int = 1
    onednn_max_isa: str | None = None

    def native(self, dtype: torch.dtype) -> bool:
        """The CPU (and oneDNN, if capped) computes ``dtype`` natively; float32 always."""
        if dtype == torch.float32:
            return True
        if dtype not in _NATIVE_FLAGS or not self.flags.intersection(_NATIVE_FLAGS[dtype]):
            return False
        return self.onednn_max_isa is None or self.onednn_max_isa in _ONEDNN_NATIVE[dtype]

    @property
    def avx512(self) -> bool:
        """PyTorch's kernels use AVX-512."""
        return self.isa.upper().startswith("AVX512")

    def summary(self) -> str:
        """One line: model, ISA, native low precision, CPUs / cores."""
        lowp = [
            name
            for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16))
            if self.native(dtype)
        ]
        amx = "amx_bf16" in self.flags or "amx_tile" in self.flags
        cap = f", oneDNN capped at {self.onednn_max_isa}" if self.onednn_max_isa else ""
        return (
            f"{self.model or platform.machine()} | torch ISA {self.isa} | native "
            f"{'/'.join(lowp) or 'fp32 only'}{' | AMX' if amx else ''} | "
            f"{self.cpus} CPUs, {self.physical_cores} cores{cap}"
        )


def _cpuinfo() -> tuple[frozenset[str], str, int]:
    """(flags, model name, physical cores) from ``/proc/cpuinfo``; empty where unreadable."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return frozenset(), platform.processor(), 0
    flags: set[str] = set()
    model, cores = "", set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("flags", "Features") and not flags:
            flags = set(value.lower().split())
        elif key in ("model name", "CPU part") and not model:
            model = value
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
            cores.add((physical, core))
    return frozenset(flags), model, len(cores)


@functools.cache
def probe_cpu() -> CpuCapability:
    """This machine's :class:`CpuCapability` (read once per process)."""
    flags, model, cores = _cpuinfo()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return CpuCapability(
        isa=torch.backends.cpu.get_cpu_capability(),
        flags=flags,
        model=model,
        cpus=cpus,
        physical_cores=min(cores, cpus) if cores else cpus,
        onednn_max_isa=onednn.lower() if onednn else None,
    )


_warned: set[tuple[torch.dtype, str]] = set()


def cpu_autocast_dtype(
    dtype: torch.dtype = torch.bfloat16, capability: CpuCapability | None = None
) -> torch.dtype | None:
    """``dtype`` where ``capability`` (default: this CPU) computes it natively, else ``None``
    (run float32), with one warning per dtype and CPU."""
    cap = capability if capability is not None else probe_cpu()
    if cap.native(dtype):
        return dtype
    key = (dtype, cap.summary())
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"{dtype} autocast on CPU requested, but this CPU ({cap.summary()}) has no "
            f"native {dtype} arithmetic (it would be emulated, several times slower "
            "than float32): running float32",
            RuntimeWarning,
            stacklevel=2,
        )
    return None


@contextlib.contextmanager
def cpu_autocast(
    dtype: torch.dtype = torch.bfloat16,
    enabled: bool = True,
    capability: CpuCapability | None = None,
) -> Iterator[torch.dtype]:
    """``torch.autocast('cpu', dtype)`` where the CPU computes ``dtype`` natively, else plain
    float32 (:func:`cpu_autocast_dtype` warns once); yields the dtype in effect."""
    chosen = cpu_autocast_dtype(dtype, capability) if enabled else None
    with torch.autocast("cpu", dtype=chosen or torch.bfloat16, enabled=chosen is not None):
        yield chosen or torch.float32
