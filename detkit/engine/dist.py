"""torch.distributed helpers: process-group set-up from torchrun's or Slurm's environment, rank
info,
gathering Python objects, and DDP wrapping of detectors (``train_step`` through DDP)."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from detkit.engine.slurm import slurm_dist_env

__all__ = [
    "init_dist",
    "get_dist_info",
    "is_main_process",
    "master_only",
    "all_gather",
    "collect_results",
    "DetectorDDP",
    "wrap_distributed",
]


def init_dist(
    launcher: str, backend: str = "nccl", port: int | str | None = None, **kwargs: Any
) -> None:
    """Initialise the default process group (mmcv ``init_dist``).

    ``launcher='pytorch'``: torchrun's env (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``PORT``; torchrun's ``--master_port`` sets the port, ``port`` is unused).
    ``launcher='slurm'``: a task started by ``srun``; the same variables are derived from
    ``SLURM_*`` and exported (see :func:`detkit.engine.slurm.slurm_dist_env`; ``port`` is
    ``dist_params.port``). The CUDA device is the local rank (modulo the visible GPUs);
    ``backend='nccl'`` falls back to ``gloo`` when CUDA is not available. ``kwargs`` go to
    ``torch.distributed.init_process_group``."""
    if launcher == "slurm":
        os.environ.update(slurm_dist_env(os.environ, port))
    elif launcher != "pytorch":
        raise ValueError(
            f"launcher {launcher!r} is not supported; use 'pytorch' (torchrun) or 'slurm' (srun)"
        )
    for key in ("RANK", "WORLD_SIZE"):
        if key not in os.environ:
            raise KeyError(f"environment variable {key} is not set: start the script with torchrun")
    if backend == "nccl" and not torch.cuda.is_available():
        backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    store = _restart_store(os.environ)
    if store is not None:
        kwargs.update(
            store=store, rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"])
        )
    dist.init_process_group(backend=backend, **kwargs)


def _restart_store(env: Mapping[str, str]) -> Any:
    """After a torchrun restart (``--max-restarts``), the agent's store with a key space of
    this attempt's own; None otherwise. The agent keeps one store for every attempt, and the
    killed attempt's process-group keys (each rank's address) would otherwise be read by the
    new ranks, which then connect to dead ports (pytorch/pytorch#167288)."""
    attempt = int(env.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    if attempt == 0 or env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    client = dist.TCPStore(
        env["MASTER_ADDR"], int(env["MASTER_PORT"]), int(env["WORLD_SIZE"]), is_master=False
    )
    return dist.PrefixStore(f"detkit/attempt_{attempt}", client)


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return get_dist_info()[0] == 0


def master_only(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run ``func`` on rank 0 only (returns None elsewhere)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs) if is_main_process() else None

    return wrapper


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
    _, world_size = get_dist_info()
    if world_size == 1:
        return [obj]
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def collect_results(part: list[Any], size: int) -> list[Any]:
    """Merge per-rank result lists produced from a ``DistributedSampler`` (rank r holds samples
    r, r + W, r + 2W, ...) back into dataset order, dropping the padding to ``size`` items."""
    parts = all_gather(part)
    ordered = [item for group in zip(*parts) for item in group]
    # ranks may differ by one item when size is not a multiple of the world size
    longest = max(len(p) for p in parts)
    for index in range(min(len(p) for p in parts), longest):
        ordered += [p[index] for p in parts if index < len(p)]
    return ordered[:size]


class DetectorDDP(nn.parallel.DistributedDataParallel):
    """DDP whose ``train_step`` runs the detector's ``train_step`` *through* DDP's forward, so
    gradients are all-reduced during ``backward`` (the role of mmcv's MMDistributedDataParallel).
    ``val_step`` needs no gradients and calls the module directly."""

    def train_step(self, data_batch: dict[str, Any], optimizer: Any) -> dict[str, Any]:
        module = self.module

        def step(*args: Any, **kwargs: Any) -> dict[str, Any]:
            del (
                module.forward
            )  # the detector's own forward calls inside train_step use the class forward
            return module.train_step(*args, **kwargs)

        module.forward = step  # an instance attribute shadows the class forward for DDP's one call
        try:
            return self(data_batch, optimizer)
        finally:
            module.__dict__.pop("forward", None)

    def val_step(self, data_batch: dict[str, Any], optimizer: Any = None) -> dict[str, Any]:
        return self.module.val_step(data_batch, optimizer)


def wrap_distributed(
    model: nn.Module, find_unused_parameters: bool = False, sync_bn: bool = False
) -> DetectorDDP:
    """Convert BatchNorm to SyncBatchNorm if asked (CUDA only: torch's SyncBatchNorm has no CPU
    kernel, so on CPU a warning is given and BatchNorm stays), move to this rank's device and wrap
    in DDP."""
    if sync_bn and torch.cuda.is_available():
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif sync_bn:
        warnings.warn(
            "SyncBN needs CUDA (torch.nn.SyncBatchNorm has no CPU kernel); keeping per-process "
            "BatchNorm",
            UserWarning,
            stacklevel=2,
        )
    if torch.cuda.is_available():
        device = torch.cuda.current_device()
        return DetectorDDP(
            model.cuda(device), device_ids=[device], find_unused_parameters=find_unused_parameters
        )
    return DetectorDDP(model, find_unused_parameters=find_unused_parameters)
