"""Helpers of the analysis tests: results built from the ground truth, loading a tool."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def load_tool(name: str) -> ModuleType:
    """``tools/analysis_tools/<name>.py`` as a module (its ``main(argv)`` is the CLI)."""
    spec = importlib.util.spec_from_file_location(
        f"analysis_{name}", REPO / "tools/analysis_tools" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gt_results(dataset, score: float = 0.9) -> list[list[np.ndarray]]:
    """Per image the ground truth as detections: C arrays ``[n_c, 5]`` with ``score``."""
    results = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        results.append(
            [
                np.concatenate(
                    [
                        ann["bboxes"][ann["labels"] == c],
                        np.full(((ann["labels"] == c).sum(), 1), score),
                    ],
                    axis=1,
                ).astype(np.float32)
                for c in range(len(dataset.CLASSES))
            ]
        )
    return results
