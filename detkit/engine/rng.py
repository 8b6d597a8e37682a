"""Random state: seeding and capturing/restoring python, numpy and torch (CPU + CUDA) RNGs.

States are stored in checkpoints, so they are built from types ``torch.load(weights_only=True)``
accepts (tuples, ints, floats, tensors).
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

__all__ = ["set_random_seed", "init_random_seed", "get_rng_state", "set_rng_state"]


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); with ``deterministic`` also make cuDNN
    deterministic and non-benchmarking (mmdet ``set_random_seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def init_random_seed(seed: int | None = None, device: str = "cpu") -> int:
    """``seed`` or a random one; in distributed runs rank 0's value is broadcast to all ranks."""
    if seed is not None:
        return int(seed)
    value = torch.tensor(np.random.randint(2**31), dtype=torch.int64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast(value, src=0)
    return int(value.item())


def get_rng_state() -> dict[str, Any]:
    """The python, numpy and torch RNG states (CUDA too when available)."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (
            name,
            torch.from_numpy(np.asarray(keys).astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(cached_gaussian),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`get_rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    name, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
