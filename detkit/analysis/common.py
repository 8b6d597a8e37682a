"""What the analysis tools share: read a results pickle written by ``tools/test.py --out`` and
the box arrays of one result. Configs come from :meth:`detkit.Config.load` and test splits
from :func:`detkit.engine.testing_setup.build_test_dataset`, as in every entry point."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from detkit.io import read_pickle

__all__ = ["load_results", "bbox_results_of"]


def load_results(results: str | list[Any]) -> list[Any]:
    """Per-image MMDetection v2 results: a list as is, or the pickle at that path.

    Raises:
        FileNotFoundError: no file there; ValueError: not a pickled list of results.
    """
    if not isinstance(results, (str, os.PathLike)):
        return list(results)
    if not os.path.isfile(results):
        raise FileNotFoundError(f"results file not found: {results}")
    try:
        loaded = read_pickle(results)
    except ValueError as exc:
        reason = exc.__cause__ or exc
        raise ValueError(
            f"{results} is not a results pickle (tools/test.py --out): {reason}"
        ) from exc
    if not isinstance(loaded, list) or not loaded:
        raise ValueError(
            f"{results} must hold a non-empty list of per-image results, "
            f"got {type(loaded).__name__}"
        )
    return loaded


def bbox_results_of(result: Any, where: str = "results") -> list[np.ndarray]:
    """The per-class ``[n_c, 5]`` box arrays (xyxy + score) of one image's result:
    ``bbox_results`` alone, or the first item of ``(bbox_results, segm_results)``.

    Raises:
        TypeError: neither form (``where`` names the source in the message).
    """
    if isinstance(result, tuple):
        result = result[0]
    if not isinstance(result, list) or not all(
        isinstance(r, np.ndarray) and r.ndim == 2 and r.shape[1] == 5 for r in result
    ):
        raise TypeError(
            f"{where}: invalid type of prediction results; expected per-class [n, 5] arrays "
            f"(or (bbox_results, segm_results)), got {type(result).__name__}"
        )
    return result
