"""``setup_testing``: the one wiring from a config (and a checkpoint or a model) to a ready test
run — the split's dataset in test mode, its loader, the model with class names — shared by
``tools/test.py``, :func:`detkit.evaluate_detector` (notebook 04) and the analysis tools, as
:func:`detkit.setup_training` is for training.

    setup = detkit.setup_testing(cfg, "work_dirs/demo/latest.pth")
    metrics = setup.test(metric=["bbox", "segm"], out="results.pkl", work_dir="work_dirs/demo")

Config keys read here: ``data.<split>`` (a dict or a list of dicts), its loader arguments
(:func:`detkit.config.loader_settings`), ``evaluation`` (the ``dataset.evaluate`` arguments;
:func:`detkit.config.evaluation_kwargs`) and, through ``init_detector``, ``model``.
"""

from __future__ import annotations

import copy
import difflib
import os.path as osp
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from detkit.config import Config
from detkit.config.settings import ConfigLike, evaluation_kwargs, loader_settings
from detkit.data import build_dataloader, build_dataset
from detkit.engine.dist import get_dist_info
from detkit.engine.inference import init_detector
from detkit.engine.testing import multi_gpu_test, single_gpu_test
from detkit.io import write_json, write_pickle
from detkit.models.layers import fuse_conv_bn as fold_batch_norm

__all__ = ["TestingSetup", "build_test_dataset", "setup_testing", "write_eval_json"]


def build_test_dataset(cfg: ConfigLike, split: Literal["val", "test"] = "test") -> Any:
    """``cfg.data[split]`` (a dict, or a list of dicts concatenated) built in test mode; the
    config is not changed (``samples_per_gpu`` there is a loader argument and is dropped).

    Raises:
        KeyError: ``cfg.data`` has no ``split``.
    """
    data = cfg.get("data") or {}
    if split not in data:
        raise KeyError(f"cfg.data has no {split!r} split; it has {sorted(data)}")
    split_cfg = copy.deepcopy(data[split])
    for item in split_cfg if isinstance(split_cfg, list) else [split_cfg]:
        item.pop("samples_per_gpu", None)
        item["test_mode"] = True
    return build_dataset(split_cfg)


def write_eval_json(work_dir: str, config: str, metrics: Mapping[str, Any]) -> str:
    """Write ``<work_dir>/eval_<timestamp>.json`` = ``{"config": ..., "metric": {...}}``
    (atomically); returns its path."""
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    json_file = osp.join(work_dir, f"eval_{timestamp}.json")
    write_json(json_file, dict(config=config, metric=dict(metrics)), indent=1)
    return json_file


@dataclass
class TestingSetup:
    """What :func:`setup_testing` built.

    Attributes:
        cfg: the config.
        model: the detector in eval mode (``CLASSES`` set), or a DDP/DataParallel wrapper.
        dataset: the split in test mode.
        data_loader: its loader, in dataset order.
        distributed: test with every process of ``torch.distributed`` (rank 0 gets all).
    """

    cfg: Config
    model: nn.Module
    dataset: Any
    data_loader: Any
    distributed: bool = False

    def check_metrics(self, names: Sequence[str]) -> None:
        """Refuse a metric the dataset's ``METRICS`` (when it declares them) lacks, naming the
        closest one; datasets without ``METRICS`` (users' own) judge theirs in ``evaluate``.

        Raises:
            ValueError: an unknown metric.
        """
        supported: Sequence[str] | None = getattr(self.dataset, "METRICS", None)
        if supported is None:
            return
        for name in names:
            if name not in supported:
                close = difflib.get_close_matches(name, supported, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"--eval: unknown metric {name!r} for {type(self.dataset).__name__}; "
                    f"{hint}choose from {', '.join(supported)}"
                )

    def run(
        self,
        show: bool = False,
        show_dir: str | None = None,
        show_score_thr: float = 0.3,
        display: bool = True,
    ) -> list[Any] | None:
        """The model over the loader: one MMDetection v2 result per image, masks RLE-encoded
        (None on ranks > 0 when distributed). ``show``/``show_dir`` draw each result."""
        if self.distributed:
            return multi_gpu_test(self.model, self.data_loader, show_score_thr, show_dir)
        return single_gpu_test(
            self.model, self.data_loader, show, show_dir, show_score_thr, display=display
        )

    def evaluate(
        self, results: Sequence[Any], metric: str | Sequence[str], **options: Any
    ) -> dict[str, Any]:
        """``dataset.evaluate`` with ``cfg.evaluation``'s dataset arguments, then ``metric``
        and ``options`` (``classwise=True``, ``iou_thrs``, ...)."""
        kwargs = evaluation_kwargs(self.cfg)
        kwargs.update(metric=[metric] if isinstance(metric, str) else list(metric), **options)
        return dict(self.dataset.evaluate(list(results), **kwargs))

    def test(
        self,
        metric: str | Sequence[str] | None = None,
        format_only: bool = False,
        eval_options: Mapping[str, Any] | None = None,
        out: str | None = None,
        show: bool = False,
        show_dir: str | None = None,
        show_score_thr: float = 0.3,
        work_dir: str | None = None,
        display: bool = True,
    ) -> dict[str, Any]:
        """MMDetection v2 ``tools/test.py``'s sequence: run, and on rank 0 pickle the results
        to ``out``, format them (``format_only``: ``dataset.format_results(**eval_options)``)
        or evaluate ``metric`` (printed; with ``work_dir`` also written to
        ``<work_dir>/eval_<timestamp>.json``).

        Returns:
            The metrics (``{}`` without ``metric``, with ``format_only`` and on ranks > 0).

        Raises:
            ValueError: both ``metric`` and ``format_only``; a metric the dataset lacks
                (checked before the model runs).
        """
        if metric and format_only:
            raise ValueError("--eval and --format-only cannot be both specified")
        names = [metric] if isinstance(metric, str) else list(metric or ())
        self.check_metrics(names)
        results = self.run(show, show_dir, show_score_thr, display)
        if results is None or get_dist_info()[0] != 0:
            return {}
        if out:
            print(f"\nwriting results to {out}")
            write_pickle(out, results)
        options = dict(eval_options or {})
        if format_only:
            self.dataset.format_results(results, **options)
            return {}
        if not names:
            return {}
        metrics = self.evaluate(results, names, **options)
        print(metrics)
        if work_dir:
            json_file = write_eval_json(work_dir, self.cfg.filename or "", metrics)
            print(f"metrics written to {json_file}")
        return metrics


def setup_testing(
    cfg: Config,
    checkpoint: str | None = None,
    *,
    model: nn.Module | None = None,
    split: Literal["val", "test"] = "test",
    device: str | torch.device | None = None,
    distributed: bool = False,
    fuse_conv_bn: bool = False,
    samples_per_gpu: int | None = None,
) -> TestingSetup:
    """Prepare testing ``cfg.data[split]`` (MMDetection v2's ``tools/test.py`` sequence).

    Args:
        cfg: the config (from :meth:`detkit.Config.load`; not changed).
        checkpoint: weights for a model built by :func:`detkit.init_detector` (random weights
            when None); ignored when ``model`` is given.
        model: an already built detector (e.g. the one just trained); put in eval mode.
        split: ``'test'`` (``tools/test.py``) or ``'val'``.
        device: where a built model runs (default: ``cuda`` if available, else ``cpu``).
        distributed: every ``torch.distributed`` process tests its share (call
            ``detkit.init_dist`` first).
        fuse_conv_bn: fold BatchNorm into the conv before it (``--fuse-conv-bn``).
        samples_per_gpu: images per batch instead of the config's.

    Raises:
        KeyError: ``cfg.data`` has no ``split``.
    """
    dataset = build_test_dataset(cfg, split)
    loader_args = loader_settings(cfg, split)
    if samples_per_gpu is not None:
        loader_args["samples_per_gpu"] = samples_per_gpu
    data_loader = build_dataloader(dataset, **loader_args, dist=distributed, shuffle=False)
    detector: Any = model  # the MMDetection attribute CLASSES is set on it
    if detector is None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        detector = init_detector(cfg, checkpoint, device=device)
    detector.eval()
    if fuse_conv_bn:
        detector = fold_batch_norm(detector)
    if getattr(detector, "CLASSES", None) is None:
        detector.CLASSES = dataset.CLASSES
    return TestingSetup(cfg, detector, dataset, data_loader, distributed)
