"""Deployment: ``export`` a trained detector to ONNX or a ``torch.export`` program, and run
it with ``OnnxDetector`` (ONNX Runtime) or ``ExportedProgramDetector``.

Names are imported on first use (``onnxruntime`` only when an ``OnnxDetector`` is made)."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "export": "detkit.deploy.exporter",
    "DeployableDetector": "detkit.deploy.graph",
    "check_exportable": "detkit.deploy.graph",
    "OnnxDetector": "detkit.deploy.runtime",
    "ExportedProgramDetector": "detkit.deploy.runtime",
    "graph_inputs": "detkit.deploy.postprocess",
    "to_results": "detkit.deploy.postprocess",
    "compare_results": "detkit.deploy.compare",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'detkit.deploy' has no attribute {name!r}")
    value = getattr(importlib.import_module(_NAMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
