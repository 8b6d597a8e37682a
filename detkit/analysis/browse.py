"""Browse the training set as the model sees it (MMDetection v2
``tools/analysis_tools/browse_dataset.py``): the training pipeline, minus the steps named in
``skip_type`` (default ``DefaultFormatBundle``, ``Normalize``, ``Collect``), is run on every
item of ``cfg.data.train`` and the image is drawn with its ``gt_bboxes``, ``gt_labels`` and
``gt_masks`` into ``<output_dir>/<image file name>`` and/or shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detkit.config import Config
from detkit.viz.panels import save_panels

__all__ = ["DEFAULT_SKIP_TYPE", "retrieve_data_cfg", "browse_dataset"]

DEFAULT_SKIP_TYPE = ("DefaultFormatBundle", "Normalize", "Collect")


def retrieve_data_cfg(
    config: Any,
    skip_type: Sequence[str] = DEFAULT_SKIP_TYPE,
    cfg_options: Mapping[str, Any] | None = None,
) -> Any:
    """The tool config with ``skip_type`` steps removed from the innermost training
    pipeline (wrappers such as ``RepeatDataset`` are looked through; a
    ``MultiImageMixDataset``'s own pipeline is the one changed)."""
    cfg = Config.load(config, cfg_options)
    train = cfg.data.train
    while (
        isinstance(train, Mapping)
        and "dataset" in train
        and train.get("type") != "MultiImageMixDataset"
    ):
        train = train["dataset"]
    for item in train if isinstance(train, list) else [train]:
        if "pipeline" not in item:
            raise KeyError(f"{cfg.filename}: data.train has no pipeline to browse")
        item["pipeline"] = [step for step in item["pipeline"] if step["type"] not in skip_type]
    return cfg


def _as_uint8_rgb(img: Any) -> np.ndarray:
    array = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[2] != 3:  # CHW tensor
        array = array.transpose(1, 2, 0)
    return np.ascontiguousarray(np.clip(array, 0, 255).astype(np.uint8)[:, :, ::-1])


def browse_dataset(
    config: Any,
    skip_type: Sequence[str] = DEFAULT_SKIP_TYPE,
    output_dir: str | None = None,
    not_show: bool = False,
    show_interval: float = 2.0,
    cfg_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Draw every training item (see the module docstring); returns the files written.

    Args:
        skip_type: pipeline step types not run; output_dir: where drawings go (none saved
            when None); not_show: do not display; show_interval: seconds each drawing is
            shown.

    Raises:
        ValueError: nothing to do (``not_show`` without ``output_dir``); KeyError: an item has
        no ``gt_bboxes``/``gt_labels`` after the pipeline.
    """
    from detkit.data import build_dataset

    if not_show and output_dir is None:
        raise ValueError("browse_dataset with not_show=True needs an output_dir to save to")
    cfg = retrieve_data_cfg(config, skip_type, cfg_options)
    dataset = build_dataset(cfg.data.train)
    written = []
    for index in range(len(dataset)):
        item = dataset[index]
        missing = [k for k in ("img", "gt_bboxes", "gt_labels", "filename") if k not in item]
        if missing:
            raise KeyError(
                f"item {index} of data.train has no {missing} after the pipeline; do not "
                f"skip the steps that produce them (skip_type={list(skip_type)})"
            )
        out_file = os.path.join(output_dir, Path(item["filename"]).name) if output_dir else None
        masks = item.get("gt_masks")
        panel = dict(
            bboxes=np.asarray(item["gt_bboxes"]),
            labels=np.asarray(item["gt_labels"]),
            masks=masks if masks is not None and len(masks) else None,
        )
        save_panels(
            [panel],
            _as_uint8_rgb(item["img"]),
            out_file,
            dataset.CLASSES,
            show=not not_show,
            wait_time=show_interval,
        )
        if out_file:
            written.append(out_file)
    return written
