"""Environment summary written to the log and the run meta (mmdet ``collect_env``)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata as importlib_metadata

import numpy as np
import torch
import torchvision

from detkit.ops.cpu import probe_cpu
from detkit.ops.threads import thread_settings

__all__ = ["collect_env", "format_env"]


def collect_env() -> dict[str, str]:
    """Versions of Python, detkit, torch, torchvision, numpy; the CPU (model, PyTorch's ISA
    level, native bf16/fp16, AMX, CPUs and cores), the thread settings; the CUDA devices."""
    try:
        detkit_version = importlib_metadata.version("detkit")
    except importlib_metadata.PackageNotFoundError:
        detkit_version = "unknown"
    env = {
        "sys.platform": sys.platform,
        "Python": sys.version.replace("\n", ""),
        "machine": platform.machine(),
        "detkit": detkit_version,
        "PyTorch": torch.__version__,
        "TorchVision": torchvision.__version__,
        "NumPy": np.__version__,
        "CUDA available": str(torch.cuda.is_available()),
        "CPU": probe_cpu().summary(),
        "threads": thread_settings().summary(),
    }
    if torch.cuda.is_available():
        env["GPU"] = ", ".join(
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        )
        env["CUDA (torch build)"] = str(torch.version.cuda)
    return env


def format_env(env: dict[str, str] | None = None) -> str:
    """One ``key: value`` line per entry."""
    return "\n".join(f"{key}: {value}" for key, value in (env or collect_env()).items())
