"""Cost of a module on one input: parameters, FLOPs (``torch.utils.flop_counter``), latency.

``compare_necks()`` builds FPN and AugFPN (or any neck configs) with the same arguments and
measures them on the same backbone-shaped input; ``compare_roi_extractors()`` does the same
for SingleRoIExtractor and SoftRoIExtractor (AugFPN's soft RoI selection) on a batch of RoIs;
notebook 02 shows their tables.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from detkit.registry import MODELS, build

__all__ = [
    "ModuleCost",
    "measure_module",
    "compare_necks",
    "compare_roi_extractors",
    "format_costs",
]


@dataclass(frozen=True)
class ModuleCost:
    """What one forward of a module costs.

    ``params``: number of parameters; ``gflops``: 1e9 x the FLOPs counted by
    ``FlopCounterMode`` (convolutions, matmuls; one multiply-add = 2 FLOPs; pooling and
    interpolation are not counted); ``latency_ms``: median wall time of one forward.
    """

    name: str
    params: int
    gflops: float
    latency_ms: float


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        torch.cuda.synchronize()


def measure_module(
    name: str, module: nn.Module, run: Callable[[nn.Module], Any], repeats: int = 5, warmup: int = 1
) -> ModuleCost:
    """Measure ``run(module)`` (one forward) in eval mode without autograd.

    Args:
        name: row label.
        module: the module; its parameters are counted.
        run: calls the module on its input, e.g. ``lambda m: m(feats)``.
        repeats: timed runs (the median is reported); warmup: untimed runs before.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    module.eval()
    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            run(module)
        for _ in range(warmup):
            run(module)
        times = []
        for _ in range(repeats):
            _synchronize()
            start = time.perf_counter()
            run(module)
            _synchronize()
            times.append(time.perf_counter() - start)
    return ModuleCost(
        name=name,
        params=sum(p.numel() for p in module.parameters()),
        gflops=counter.get_total_flops() / 1e9,
        latency_ms=statistics.median(times) * 1e3,
    )


def _random_pyramid(
    channels: Sequence[int],
    image_size: tuple[int, int],
    strides: Sequence[int],
    gen: torch.Generator,
    device: torch.device,
) -> list[torch.Tensor]:
    """Random maps ``[1, channels[l], H // strides[l], W // strides[l]]``, one per level."""
    return [
        torch.randn(1, c, image_size[0] // s, image_size[1] // s, generator=gen).to(device)
        for c, s in zip(channels, strides)
    ]


def compare_necks(
    neck_cfgs: Mapping[str, Mapping[str, Any]] | None = None,
    in_channels: Sequence[int] = (256, 512, 1024, 2048),
    out_channels: int = 256,
    num_outs: int = 5,
    image_size: tuple[int, int] = (512, 1024),
    strides: Sequence[int] = (4, 8, 16, 32),
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> list[ModuleCost]:
    """Parameters, FLOPs and latency of necks on the same backbone-shaped input.

    Args:
        neck_cfgs: row name -> neck config (``type`` plus arguments beyond the shared
            ``in_channels``/``out_channels``/``num_outs``); default FPN and AugFPN.
        in_channels, out_channels, num_outs: shared neck arguments (default: the seed's).
        image_size: ``(H, W)`` of the network input; level l gets a random map
            ``[1, in_channels[l], H // strides[l], W // strides[l]]``.
        repeats, warmup: as ``measure_module``; device: where the module and input live.

    Returns one ``ModuleCost`` per config, in order.
    """
    if len(strides) != len(in_channels):
        raise ValueError(
            f"strides {list(strides)} and in_channels {list(in_channels)} must have the same length"
        )
    if neck_cfgs is None:
        neck_cfgs = {"FPN": dict(type="FPN"), "AugFPN": dict(type="AugFPN")}
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    feats = _random_pyramid(in_channels, image_size, strides, gen, device)
    shared = dict(in_channels=list(in_channels), out_channels=out_channels, num_outs=num_outs)
    rows = []
    for name, cfg in neck_cfgs.items():
        neck = build(dict(cfg), MODELS, default_args=shared, key_path=f"neck_cfgs.{name}")
        rows.append(measure_module(name, neck.to(device), lambda m: m(feats), repeats, warmup))
    return rows


def compare_roi_extractors(
    extractor_types: Sequence[str] = ("SingleRoIExtractor", "SoftRoIExtractor"),
    channels: int = 256,
    output_size: int = 7,
    sampling_ratio: int = 0,
    num_rois: int = 1000,
    image_size: tuple[int, int] = (512, 1024),
    strides: Sequence[int] = (4, 8, 16, 32),
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> list[ModuleCost]:
    """Parameters, FLOPs and latency of RoI extractors on the same maps and RoIs.

    Args:
        extractor_types: registered extractor names, built with
            ``roi_layer=dict(type='RoIAlign', output_size=output_size,
            sampling_ratio=sampling_ratio)`` (0: adaptive, as the configs).
        channels: feature channels; num_rois: random boxes (sides 8 to 512 pixels) inside
            ``image_size`` ``(H, W)``; strides: the pooled levels.
        repeats, warmup: as ``measure_module``; device: where the module and input live.

    Returns one ``ModuleCost`` per extractor type, in order.
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    feats = _random_pyramid([channels] * len(strides), image_size, strides, gen, device)
    size = torch.rand(num_rois, 2, generator=gen) * 504 + 8
    corner = torch.rand(num_rois, 2, generator=gen) * (torch.tensor(image_size[::-1]) - size).clamp(
        min=0
    )
    rois = torch.cat([torch.zeros(num_rois, 1), corner, corner + size], dim=1).to(device)
    roi_layer = dict(type="RoIAlign", output_size=output_size, sampling_ratio=sampling_ratio)
    rows = []
    for name in extractor_types:
        extractor = build(
            dict(
                type=name, roi_layer=roi_layer, out_channels=channels, featmap_strides=list(strides)
            ),
            MODELS,
        )
        rows.append(
            measure_module(name, extractor.to(device), lambda m: m(feats, rois), repeats, warmup)
        )
    return rows


def _ratio(value: float, base: float, width: int, digits: int) -> str:
    return f"{value / base:>{width}.{digits}f}" if base else f"{'-':>{width}}"


def format_costs(rows: Sequence[ModuleCost]) -> str:
    """A plain-text table of ``rows``, with each row's ratio to the first (``-`` where the
    first row's value is 0)."""
    base = rows[0]
    lines = [
        f"{'module':<16}{'params':>12}{'GFLOPs':>10}{'ms':>10}{'x params':>10}"
        f"{'x FLOPs':>9}{'x ms':>7}"
    ]
    for row in rows:
        lines.append(
            f"{row.name:<16}{row.params:>12,}{row.gflops:>10.2f}{row.latency_ms:>10.1f}"
            f"{_ratio(row.params, base.params, 10, 3)}{_ratio(row.gflops, base.gflops, 9, 3)}"
            f"{_ratio(row.latency_ms, base.latency_ms, 7, 2)}"
        )
    return "\n".join(lines)
