"""Write MMDetection-layout checkpoints atomically.

A checkpoint is ``torch.save`` of ``{'meta': dict, 'state_dict': OrderedDict, 'optimizer':
dict}``: CPU tensors (parameters and buffers), keys without a ``module.`` prefix. Every write goes
through :func:`detkit.io.atomic_write`: a process killed at any moment leaves either the old file
or the new one, never a torn one.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from importlib import metadata as importlib_metadata
from typing import Any

import torch
from torch import nn

from detkit.checkpoint.integrity import non_finite_tensors
from detkit.checkpoint.loading import unwrap_model
from detkit.io import atomic_write, fsync_directory, write_bytes

__all__ = ["save_checkpoint", "link_latest", "to_cpu", "get_state_dict"]


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor (nested in dicts/lists/tuples) detached and moved to CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, OrderedDict):
        copied = OrderedDict((k, to_cpu(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            copied._metadata = obj._metadata  # type: ignore[attr-defined]
        return copied
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def get_state_dict(model: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """Parameters and buffers of ``model`` (DDP unwrapped, so no ``module.`` prefix), on CPU."""
    return to_cpu(unwrap_model(model).state_dict())


def _versions() -> dict[str, str]:
    try:
        detkit_version = importlib_metadata.version("detkit")
    except importlib_metadata.PackageNotFoundError:
        detkit_version = "unknown"
    return {"detkit_version": detkit_version, "torch_version": str(torch.__version__)}


def save_checkpoint(
    model: nn.Module,
    filename: str,
    optimizer: torch.optim.Optimizer | None = None,
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save ``model`` (and ``optimizer``) in MMDetection's layout, atomically.

    Args:
        model: the model; a DDP/DataParallel wrapper is unwrapped.
        filename: target path (its directory is created).
        optimizer: saved as ``checkpoint['optimizer']`` (tensors moved to CPU) if given.
        meta: user meta (``epoch``, ``iter``, ``CLASSES``, ``config``, ...); ``time`` and the
            detkit/torch versions are added.
        extra: more top-level entries (e.g. ``'resume'`` state); tensors moved to CPU.

    Returns:
        The dict that was written.

    Raises:
        FloatingPointError: a weight or buffer is NaN/inf (nothing is written).
        OSError: the write failed (e.g. no space left); the message names the path and the old
            file at ``filename`` is intact.
    """
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
    meta = {**meta, **_versions(), "time": time.asctime()}
    state_dict = get_state_dict(model)
    non_finite = non_finite_tensors(state_dict)
    if non_finite:
        raise FloatingPointError(
            f"not saving {filename}: the model holds NaN or inf values in "
            f"{', '.join(non_finite)}; the previous checkpoints are kept as they are"
        )
    checkpoint: dict[str, Any] = {"meta": meta, "state_dict": state_dict}
    if optimizer is not None:
        checkpoint["optimizer"] = to_cpu(optimizer.state_dict())
    if extra:
        checkpoint.update(to_cpu(extra))
    atomic_write(filename, lambda file: torch.save(checkpoint, file))
    return checkpoint


def link_latest(target: str, link_name: str = "latest.pth") -> str:
    """Point ``<dir of target>/<link_name>`` at ``target`` with a relative symlink, replaced
    atomically (a temporary symlink renamed over the old one); where symlinks are not
    available the file is copied atomically instead. Returns the link path."""
    directory = os.path.dirname(os.path.abspath(target))
    link_path = os.path.join(directory, link_name)
    tmp_link = os.path.join(directory, f".{link_name}.{os.getpid()}.tmp")
    if os.path.lexists(tmp_link):
        os.remove(tmp_link)
    try:
        os.symlink(os.path.basename(target), tmp_link)
    except (OSError, NotImplementedError):
        with open(target, "rb") as source:
            write_bytes(link_path, source.read())
        return link_path
    os.replace(tmp_link, link_path)
    fsync_directory(directory)
    return link_path
