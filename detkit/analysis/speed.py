"""Inference speed of a detector on its test split (MMDetection v2
``tools/analysis_tools/benchmark.py``).

One image per forward (``model(return_loss=False, rescale=True, **batch)``, the loader's
time excluded), the first ``num_warmup`` forwards untimed; the loader is cycled until
``max_iter`` forwards ran, so a small split still gives ``max_iter``. Unlike v2 it runs in a
single process too (v2 demands a distributed launcher); the device is synchronised around
each timed forward.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Mapping
from typing import Any

import torch

from detkit.config import Config, setting

__all__ = ["measure_inference_speed", "benchmark"]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_inference_speed(
    cfg: Any,
    checkpoint: str | None,
    max_iter: int = 2000,
    log_interval: int = 50,
    fuse_conv_bn: bool = False,
    num_warmup: int = 5,
    device: str | None = None,
) -> float:
    """Images per second of ``cfg``'s model (from ``checkpoint``, or random weights when
    None) over ``max_iter`` forwards after ``num_warmup``; prints mmdet's progress lines.

    Raises:
        ValueError: ``max_iter <= num_warmup`` or ``log_interval < 1``.
    """
    from detkit.engine.runner import move_to_device
    from detkit.engine.testing_setup import setup_testing

    if max_iter <= num_warmup or num_warmup < 0:
        raise ValueError(f"max_iter ({max_iter}) must exceed num_warmup ({num_warmup}) >= 0")
    if log_interval < 1:
        raise ValueError(f"log_interval must be >= 1, got {log_interval}")
    if setting(cfg, "cudnn_benchmark"):
        torch.backends.cudnn.benchmark = True
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    setup = setup_testing(
        cfg, checkpoint, device=device, fuse_conv_bn=fuse_conv_bn, samples_per_gpu=1
    )
    model, loader = setup.model, setup.data_loader
    torch_device = torch.device(device)
    pure_inf_time = 0.0
    fps = 0.0
    for i, batch in enumerate(itertools.islice(itertools.cycle(loader), max_iter)):
        batch = move_to_device(batch, torch_device)
        _synchronize(torch_device)
        start = time.perf_counter()
        with torch.no_grad():
            model(return_loss=False, rescale=True, **batch)
        _synchronize(torch_device)
        elapsed = time.perf_counter() - start
        if i < num_warmup:
            continue
        pure_inf_time += elapsed
        fps = (i + 1 - num_warmup) / pure_inf_time
        if (i + 1) % log_interval == 0 and i + 1 < max_iter:
            print(
                f"Done image [{i + 1:<3}/ {max_iter}], fps: {fps:.1f} img / s, "
                f"times per image: {1000 / fps:.1f} ms / img",
                flush=True,
            )
    print(f"Overall fps: {fps:.1f} img / s, times per image: {1000 / fps:.1f} ms / img", flush=True)
    return fps


def benchmark(
    config: Any,
    checkpoint: str | None,
    repeat_num: int = 1,
    max_iter: int = 2000,
    log_interval: int = 50,
    fuse_conv_bn: bool = False,
    num_warmup: int = 5,
    device: str | None = None,
    cfg_options: Mapping[str, Any] | None = None,
) -> list[float]:
    """``benchmark.py``: :func:`measure_inference_speed` ``repeat_num`` times on
    ``cfg.data.test``; returns the fps of each repeat (and prints their mean when several)."""
    if repeat_num < 1:
        raise ValueError(f"repeat_num must be >= 1, got {repeat_num}")
    cfg = Config.load(config, cfg_options)
    fps_list = [
        measure_inference_speed(
            copy.deepcopy(cfg), checkpoint, max_iter, log_interval, fuse_conv_bn, num_warmup, device
        )
        for _ in range(repeat_num)
    ]
    if repeat_num > 1:
        rounded = [round(fps, 1) for fps in fps_list]
        per_image = [round(1000 / fps, 1) for fps in fps_list]
        print(
            f"Overall fps: {rounded}[{sum(rounded) / len(rounded):.1f}] img / s, times per image: "
            f"{per_image}[{sum(per_image) / len(per_image):.1f}] ms / img",
            flush=True,
        )
    return fps_list
