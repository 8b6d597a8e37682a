"""What every analysis tool does first: load a config the way the v2.28 tools do, read a
results pickle written by ``tools/test.py --out``, and build the test split."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

from detkit.config import Config, replace_cfg_vals, update_data_root

__all__ = ["load_tool_config", "load_results", "bbox_results_of", "build_test_dataset"]


def load_tool_config(config: str | Config, cfg_options: Mapping[str, Any] | None = None) -> Config:
    """``Config.fromfile`` (or a copy of a ``Config``), ``${a.b}`` references resolved, the
    ``MMDET_DATASETS`` override applied and ``cfg_options`` merged (mmdet v2 tool order).

    Raises:
        FileNotFoundError: ``config`` is a path that does not exist.
    """
    if isinstance(config, Config):
        cfg = Config(config.to_dict(), filename=config.filename, text=config.text)
    else:
        if not os.path.isfile(config):
            raise FileNotFoundError(f"config file not found: {config}")
        cfg = Config.fromfile(config)
    cfg = replace_cfg_vals(cfg)
    update_data_root(cfg)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


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
        with open(results, "rb") as f:
            loaded = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ValueError(f"{results} is not a results pickle (tools/test.py --out): {exc}") from exc
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


def build_test_dataset(cfg: Config) -> Any:
    """``cfg.data.test`` built in test mode (``samples_per_gpu`` removed), as the tools do."""
    from detkit.data import build_dataset

    test_cfg = cfg.data.test
    for item in test_cfg if isinstance(test_cfg, list) else [test_cfg]:
        item.test_mode = True
        item.pop("samples_per_gpu", None)
    return build_dataset(test_cfg)
