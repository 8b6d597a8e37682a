"""Load MMDetection-layout checkpoints (``state_dict``, ``meta``, ``optimizer``) into models.

Semantics of mmcv's ``load_checkpoint(strict=False)``: keys with matching names and shapes
are copied; shape mismatches are *not* copied (the model keeps its initialised tensor); missing
and unexpected keys are tolerated. Everything that did not match is returned as a
:class:`LoadReport` and logged once as a single table.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from detkit.checkpoint.integrity import CheckpointError, check_checkpoint_file, non_finite_tensors
from detkit.checkpoint.report import LoadReport
from detkit.checkpoint.sources import resolve_checkpoint_path
from detkit.checkpoint.v3_format import load_mmengine_checkpoint, v2_meta

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "load_state_dict",
    "read_checkpoint",
    "read_checkpoint_meta",
    "unwrap_model",
]

_DEFAULT_LOGGER = logging.getLogger("detkit.checkpoint")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel``/``DataParallel`` wrapper (else ``model``)."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


def _is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


def _log(logger: logging.Logger | str | None, level: int, message: str) -> None:
    if logger == "silent" or not _is_main_process():
        return
    if logger is not None and not isinstance(logger, logging.Logger):
        raise TypeError(f"logger must be a logging.Logger, 'silent' or None, got {logger!r}")
    (logger or _DEFAULT_LOGGER).log(level, message)


def read_checkpoint(
    filename: str, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a checkpoint name (see ``resolve_checkpoint_path``).

    An MMEngine-runner (MMDetection 3.x) checkpoint is read with stand-ins for its pickled
    objects (:func:`detkit.checkpoint.v3_format.load_mmengine_checkpoint`), and its ``meta``
    gets v2's ``CLASSES``/``PALETTE``/``config`` (:func:`~detkit.checkpoint.v3_format.v2_meta`).

    Raises:
        CheckpointError: (a ValueError) the file is empty, text, truncated, a zip of something
            else, or torch cannot read it; the message names the file and the problem.
        ValueError: the file holds objects ``weights_only`` refuses, or is not a dict.
    """
    path = resolve_checkpoint_path(filename)
    check_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise CheckpointError(
                f"checkpoint file {path}: not a PyTorch checkpoint ({exc})"
            ) from exc
        checkpoint = _read_with_stand_ins(path, map_location, exc)
    except EOFError as exc:
        raise CheckpointError(
            f"checkpoint file {path}: not a complete checkpoint: truncated "
            f"at byte {os.path.getsize(path)}"
        ) from exc
    except RuntimeError as exc:
        if "PytorchStreamReader" not in str(exc):
            raise
        raise CheckpointError(f"checkpoint file {path}: not a complete checkpoint ({exc})") from exc
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint {path} must hold a dict, got {type(checkpoint).__name__}")
    if isinstance(checkpoint.get("meta"), Mapping):
        checkpoint["meta"] = v2_meta(checkpoint["meta"])
    return checkpoint


def _read_with_stand_ins(
    path: str, map_location: str | torch.device | None, refused: Exception
) -> dict[str, Any]:
    """An MMEngine-runner checkpoint read by :func:`load_mmengine_checkpoint`; what it
    replaced by None is listed in ``checkpoint['skipped_objects']`` and in one warning."""
    try:
        checkpoint, skipped = load_mmengine_checkpoint(path, map_location)
    except Exception as exc:
        raise ValueError(
            f"checkpoint {path} holds Python objects that torch.load(weights_only=True) refuses "
            f"({exc}). If you trust the file, re-save its 'state_dict' and 'meta' as plain "
            "tensors/str/int/float/list/dict."
        ) from refused
    if skipped:
        warnings.warn(
            f"checkpoint {path}: objects of unknown classes were not unpickled and read as "
            f"None: {', '.join(skipped)}",
            UserWarning,
            stacklevel=4,
        )
    checkpoint["skipped_objects"] = skipped
    return checkpoint


def read_checkpoint_meta(filename: str) -> dict[str, Any]:
    """The ``meta`` dict of a local checkpoint file, without reading its tensors into memory
    (``torch.load(mmap=True)``; legacy-format files are read whole). Raises as
    :func:`read_checkpoint`."""
    path = resolve_checkpoint_path(filename)
    check_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, ValueError, pickle.UnpicklingError):
        # the legacy format cannot be memory-mapped; MMEngine objects need the stand-ins
        checkpoint = read_checkpoint(path)
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    return v2_meta(meta) if isinstance(meta, Mapping) else {}


def load_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    strict: bool = False,
    logger: logging.Logger | str | None = None,
    source: str = "<state dict>",
) -> LoadReport:
    """Copy ``state_dict`` into ``model`` (unwrapped from DDP), skipping shape mismatches.

    Missing ``num_batches_tracked`` buffers are not reported (as mmcv).

    Args:
        strict: raise a RuntimeError holding the report table if anything did not match.
        logger: a logger, ``'silent'``, or None for the ``detkit.checkpoint`` logger; the
            report is logged once (WARNING if not exact, else INFO) on rank 0.

    Returns:
        The :class:`LoadReport`.
    """
    module = unwrap_model(model)
    model_state = module.state_dict()
    report = LoadReport(source=source)
    filtered: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        if key in model_state and tuple(value.shape) != tuple(model_state[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(model_state[key].shape)))
        else:
            filtered[key] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        filtered._metadata = metadata  # type: ignore[attr-defined]
    non_finite = non_finite_tensors(filtered)
    if non_finite:
        warnings.warn(
            f"{source}: tensors holding NaN or inf values are loaded: {', '.join(non_finite)}; the "
            "model's outputs will be meaningless (e.g. no detections). Was it saved after a "
            "diverged "
            "step?",
            UserWarning,
            stacklevel=3,
        )
    result = module.load_state_dict(filtered, strict=False)
    mismatched_keys = {key for key, _, _ in report.mismatched}
    report.missing = [
        k
        for k in result.missing_keys
        if k not in mismatched_keys and not k.endswith("num_batches_tracked")
    ]
    report.unexpected = list(result.unexpected_keys)
    skipped = set(result.unexpected_keys)
    report.loaded = [k for k in filtered if k not in skipped]
    if strict and not report.exact:
        raise RuntimeError(
            f"strict load of {source} failed: its weights do not match the model (was the "
            "architecture "
            f"changed? load_from copies the matching weights only)\n{report.table()}"
        )
    _log(logger, logging.INFO if report.exact else logging.WARNING, report.table())
    return report


def load_checkpoint(
    model: nn.Module,
    filename: str,
    map_location: str | torch.device | None = "cpu",
    strict: bool = False,
    logger: logging.Logger | str | None = None,
    revise_keys: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
) -> dict[str, Any]:
    """Load a checkpoint into ``model`` and return the whole checkpoint dict.

    Args:
        model: the model (DDP wrappers are unwrapped).
        filename: local path, URL or ``torchvision://``/``open-mmlab://`` name.
        map_location: where tensors are loaded.
        strict: raise if any key is missing, unexpected or shape-mismatched.
        logger: see :func:`load_state_dict`.
        revise_keys: ``(pattern, replacement)`` regexes applied to every key (default strips a
            leading ``module.``).

    Returns:
        The checkpoint dict (``state_dict``, ``meta``, ``optimizer``, ... as saved); the load
        report is attached as ``checkpoint['load_report']``.
    """
    checkpoint = read_checkpoint(filename, map_location)
    state_dict = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"checkpoint {filename}: 'state_dict' must be a mapping, got "
            f"{type(state_dict).__name__}"
        )
    metadata = getattr(state_dict, "_metadata", None)
    revised: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            continue
        revised[_revise(key, revise_keys)] = value
    if metadata is not None:
        revised._metadata = OrderedDict(  # type: ignore[attr-defined]
            (_revise(k, revise_keys), v) for k, v in metadata.items()
        )
    checkpoint["load_report"] = load_state_dict(
        model, revised, strict=strict, logger=logger, source=str(filename)
    )
    return checkpoint


def _revise(key: str, revise_keys: Sequence[tuple[str, str]]) -> str:
    for pattern, replacement in revise_keys:
        key = re.sub(pattern, replacement, key)
    return key
