"""MMDetection 3.x (MMEngine runner) checkpoints: read safely, and their ``meta`` in v2 terms.

An MMEngine checkpoint is ``dict(meta, state_dict, message_hub, optimizer, param_schedulers)``;
``meta`` holds ``epoch``, ``iter``, ``cfg`` (the config text), ``seed``, ``experiment_name``,
``mmengine_version`` and ``dataset_meta`` (``classes``, ``palette``). The message hub pickles
MMEngine's ``HistoryBuffer`` objects and the schedulers pickle ``collections.Counter``, so
``torch.load(weights_only=True)`` refuses the file. :func:`load_mmengine_checkpoint` reads it
without importing MMEngine and without running any pickled code: every global the file names
is registered for that one load as a stand-in (``torch.serialization.safe_globals``), known
ones as plain data (NumPy arrays, ``Counter``, ``HistoryBuffer`` -> its history as lists,
``ConfigDict`` -> dict), unknown ones as an inert record that becomes None and is reported.
"""

from __future__ import annotations

import collections
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "MMENGINE_CLASSES",
    "load_mmengine_checkpoint",
    "match_optimizer_state",
    "unrestored_parts",
    "v2_meta",
    "v3_meta",
]


class _Record:
    """Inert stand-in for a class the allow-list does not know: keeps nothing."""

    source = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    def __setstate__(self, state: Any) -> None:
        del state


class _HistoryBuffer:
    """Stand-in for ``mmengine.logging.HistoryBuffer`` (its state: recent values, counts)."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {})

    def as_data(self) -> dict[str, Any]:
        return {
            "log_history": [float(v) for v in np.asarray(self.__dict__.get("_log_history", []))],
            "count_history": [
                float(v) for v in np.asarray(self.__dict__.get("_count_history", []))
            ],
            "max_length": self.__dict__.get("max_length"),
        }


class _ConfigDict(dict[str, Any]):
    """Stand-in for ``mmengine.config.ConfigDict`` (an addict dict)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, Mapping):
            self.update(state)


MMENGINE_CLASSES: dict[str, type] = {
    "mmengine.logging.history_buffer.HistoryBuffer": _HistoryBuffer,
    "mmengine.config.config.ConfigDict": _ConfigDict,
}
_COLLECTIONS = {"collections.Counter": collections.Counter}


def _numpy_global(name: str) -> Any:
    """The NumPy object a pickle names for arrays, scalars and dtypes (NumPy's own array
    unpickling: no code from the file runs), else None."""
    module, _, attr = name.rpartition(".")
    module = module.replace("numpy.core", "numpy._core")
    allowed = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
    if (module, attr) in allowed:
        return getattr(importlib.import_module(module), attr)
    if module == "numpy.dtypes" and attr.endswith("DType"):
        return getattr(importlib.import_module(module), attr, None)
    return None


def _attribute(owner: Any, name: str) -> _Record:
    """Stand-in for ``builtins.getattr`` (pickles name e.g. ``HistoryBuffer.min`` this way):
    an inert record, the attribute is never looked up."""
    owner_name = getattr(owner, "source", type(owner).__name__)
    record: type[_Record] = type(
        "SkippedAttribute", (_Record,), {"source": f"getattr({owner_name}, {name!r})"}
    )
    return record()


def _stand_in(name: str) -> Any:
    """The object registered for global ``name``: plain data for the allow-list, an inert
    record class (reported as skipped) for anything else."""
    if name == "builtins.getattr":
        return _attribute
    known = MMENGINE_CLASSES.get(name) or _COLLECTIONS.get(name) or _numpy_global(name)
    if known is not None:
        return known
    return type("SkippedObject", (_Record,), {"source": name})


def _to_plain(value: Any, skipped: list[str], path: str) -> Any:
    if isinstance(value, _HistoryBuffer):
        return value.as_data()
    if isinstance(value, _Record):
        skipped.append(f"{path}: {value.source}")
        return None
    if isinstance(value, collections.Counter):
        return {k: int(v) for k, v in value.items()}
    if isinstance(value, Mapping) and not isinstance(value, collections.OrderedDict):
        return {k: _to_plain(v, skipped, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, collections.OrderedDict):
        out = collections.OrderedDict(
            (k, _to_plain(v, skipped, f"{path}.{k}")) for k, v in value.items()
        )
        if hasattr(value, "_metadata"):
            out._metadata = value._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(value, list):
        return [_to_plain(v, skipped, f"{path}.{i}") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(_to_plain(v, skipped, f"{path}.{i}") for i, v in enumerate(value))
    return value


def load_mmengine_checkpoint(
    path: str, map_location: str | torch.device | None = "cpu"
) -> tuple[dict[str, Any], list[str]]:
    """Read a checkpoint that pickles MMEngine (or other) objects, as plain data.

    Returns:
        (the checkpoint, the objects replaced by None as ``'key.path: module.Class'``).

    Raises:
        ValueError: the file names ``os``/``sys`` functions (torch refuses those modules
            even as stand-ins; no checkpoint needs them).
    """
    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    blocked = [n for n in names if n.split(".")[0] in ("sys", "os", "posix", "nt")]
    if blocked:
        raise ValueError(
            f"it calls {', '.join(blocked)} when unpickled, which no checkpoint needs: "
            "not read (possibly malicious)"
        )
    stand_ins: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
        (_stand_in(name), name) for name in names
    ]
    if any(name.startswith("numpy") for name in names):  # dtype instances are built too
        stand_ins += [
            (cls, f"numpy.dtypes.{cls.__name__}")
            for cls in vars(np.dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype)
        ]
    with torch.serialization.safe_globals(stand_ins):
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    skipped: list[str] = []
    plain = _to_plain(checkpoint, skipped, "checkpoint")
    if not isinstance(plain, dict):
        raise ValueError(f"checkpoint {path} must hold a dict, got {type(plain).__name__}")
    return plain, skipped


def v2_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` with v2's keys added from v3's (``dataset_meta.classes`` -> ``CLASSES``,
    ``dataset_meta.palette`` -> ``PALETTE``, ``cfg`` -> ``config``); v2 keys already there
    win. A v2 meta is returned unchanged (as a dict)."""
    out = dict(meta)
    dataset_meta = meta.get("dataset_meta")
    if isinstance(dataset_meta, Mapping):
        if dataset_meta.get("classes") is not None:
            out.setdefault("CLASSES", tuple(dataset_meta["classes"]))
        if dataset_meta.get("palette") is not None:
            out.setdefault("PALETTE", [tuple(c) for c in dataset_meta["palette"]])
    if isinstance(meta.get("cfg"), str):
        out.setdefault("config", meta["cfg"])
    return out


def v3_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` in v3's terms (``CLASSES``/``PALETTE`` -> ``dataset_meta``, ``config`` ->
    ``cfg``; ``epoch``/``iter``/``seed`` kept, ``exp_name`` -> ``experiment_name``)."""
    out = {k: v for k, v in meta.items() if k not in ("CLASSES", "PALETTE", "config", "exp_name")}
    dataset_meta = dict(meta.get("dataset_meta") or {})
    if meta.get("CLASSES") is not None:
        dataset_meta["classes"] = tuple(meta["CLASSES"])
    if meta.get("PALETTE") is not None:
        dataset_meta["palette"] = [tuple(c) for c in meta["PALETTE"]]
    if dataset_meta:
        out["dataset_meta"] = dataset_meta
    if meta.get("config") is not None:
        out["cfg"] = meta["config"]
    if meta.get("exp_name") is not None:
        out["experiment_name"] = meta["exp_name"]
    return out


def unrestored_parts(checkpoint: Mapping[str, Any]) -> list[str]:
    """What a resume from an MMEngine checkpoint leaves behind, each with the reason."""
    parts = []
    if "message_hub" in checkpoint:
        parts.append("message_hub (MMEngine's log history; detkit's logs start afresh)")
    if "param_schedulers" in checkpoint:
        parts.append(
            "param_schedulers (not needed: detkit computes the LR from the epoch/iteration)"
        )
    if "resume" not in checkpoint:
        parts.append("RNG and data-loader position (MMEngine saves none): not an exact resume")
    return parts


def match_optimizer_state(
    state: Mapping[str, Any], trainable: list[bool], current_sizes: list[int]
) -> Mapping[str, Any]:
    """``state`` (an optimizer state dict) for an optimizer over the trainable parameters
    only, when it was saved over all of the model's parameters (MMEngine's and mmcv's default
    constructor pass ``model.parameters()``; detkit's passes those that require grad).

    Args:
        state: the saved optimizer state dict.
        trainable: per model parameter (in ``model.parameters()`` order), whether it trains.
        current_sizes: the number of parameters in each group of the optimizer to load into.

    Returns:
        ``state`` itself when its groups already have ``current_sizes``, else a filtered copy.
    """
    groups = state.get("param_groups", [])
    if [len(g["params"]) for g in groups] == current_sizes:
        return state
    if len(groups) != 1 or len(groups[0]["params"]) != len(trainable):
        return state  # let load_state_dict name the mismatch
    kept = [index for index, flag in zip(groups[0]["params"], trainable, strict=True) if flag]
    renumber = {old: new for new, old in enumerate(kept)}
    return {
        "state": {renumber[k]: v for k, v in state.get("state", {}).items() if k in renumber},
        "param_groups": [{**groups[0], "params": list(range(len(kept)))}],
    }
