"""Notebook-level helpers around testing: resize a config's pipelines and evaluate a model
already in memory on a split (through :func:`detkit.setup_testing`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import nn

from detkit.engine.testing_setup import setup_testing

__all__ = ["set_img_scale", "evaluate_detector"]


def _pipelines(data_cfg: Any) -> list[list[dict]]:
    """Every pipeline list inside a dataset config (wrappers like RepeatDataset included)."""
    found = []
    if isinstance(data_cfg, dict):
        if isinstance(data_cfg.get("pipeline"), list):
            found.append(data_cfg["pipeline"])
        for key in ("dataset", "datasets"):
            inner = data_cfg.get(key)
            for item in inner if isinstance(inner, list) else [inner]:
                found.extend(_pipelines(item))
    return found


def set_img_scale(cfg: Any, img_scale: tuple[int, int]) -> int:
    """Set the image scale ``(long edge, short edge)`` of every ``Resize`` (train) and
    ``MultiScaleFlipAug`` (val/test) in ``cfg.data``; returns how many transforms changed.

    Raises:
        ValueError: ``img_scale`` is not two positive ints, or no transform took it.
    """
    if len(img_scale) != 2 or not all(isinstance(v, int) and v > 0 for v in img_scale):
        raise ValueError(f"img_scale must be two positive ints (w, h), got {img_scale!r}")
    changed = 0
    for split in ("train", "val", "test"):
        for pipeline in _pipelines(cfg.data.get(split)):
            for transform in pipeline:
                is_resize = transform.get("type") == "Resize" and "img_scale" in transform
                if is_resize or transform.get("type") == "MultiScaleFlipAug":
                    transform["img_scale"] = tuple(img_scale)
                    changed += 1
    if changed == 0:
        raise ValueError("no Resize(img_scale=...) or MultiScaleFlipAug found in cfg.data")
    return changed


def evaluate_detector(
    model: nn.Module,
    cfg: Any,
    metric: str | Sequence[str] = ("bbox", "segm"),
    split: Literal["val", "test"] = "val",
    classwise: bool = True,
    work_dir: str | None = None,
    show_dir: str | None = None,
    show_score_thr: float = 0.3,
    out: str | None = None,
) -> dict[str, Any]:
    """Test ``model`` on ``cfg.data[split]`` and evaluate (prints the COCO tables): the
    :func:`detkit.setup_testing` run of ``tools/test.py`` for a model already in memory.

    With ``work_dir`` the metrics also go to ``<work_dir>/eval_<timestamp>.json``; with
    ``show_dir`` the drawn results are saved there; with ``out`` the results are pickled
    there (``tools/test.py --out``: per image ``(bbox_results, segm_results)``, RLE masks).

    Raises:
        KeyError: ``cfg.data`` has no ``split``.
    """
    setup = setup_testing(cfg, model=model, split=split)
    return setup.test(
        metric=metric,
        eval_options=dict(classwise=classwise),
        out=out,
        show_dir=show_dir,
        show_score_thr=show_score_thr,
        work_dir=work_dir,
    )
