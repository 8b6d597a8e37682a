"""Parameters and FLOPs of a detector (MMDetection v2 ``tools/analysis_tools/get_flops.py``),
counted with ``torch.utils.flop_counter.FlopCounterMode`` on one test forward of a random
image ``[1, 3, H, W]`` (padded up to ``size_divisor``).

FLOPs count convolutions and matrix products, one multiply-add = 2 FLOPs (mmcv's counter
reports multiply-adds, half of these, under the name "Flops"); pooling, interpolation, NMS
and element-wise ops are not counted. The RoI heads run on the proposals the RPN keeps
under ``test_cfg`` (``rpn.max_per_img``), so their share depends on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from detkit.config import Config

__all__ = ["FlopsReport", "count_flops", "get_flops", "format_flops"]


@dataclass(frozen=True)
class FlopsReport:
    """``input_shape`` ``(3, H, W)`` after padding (``ori_shape`` before), ``gflops`` and
    ``params`` of the whole model, and ``groups``: per module path down to the requested
    depth (``backbone``, ``neck``, ``rpn_head``, ``roi_head.bbox_head``...),
    ``(params, gflops)``, plus ``(outside submodules)`` for FLOPs of ops the detector runs
    itself (so the depth-1 groups sum to the total)."""

    input_shape: tuple[int, int, int]
    ori_shape: tuple[int, int, int]
    gflops: float
    params: int
    groups: dict[str, tuple[int, float]] = field(default_factory=dict)


def _padded(shape: tuple[int, int], size_divisor: int) -> tuple[int, int]:
    if size_divisor <= 0:
        return shape
    return tuple(int(math.ceil(v / size_divisor)) * size_divisor for v in shape)  # type: ignore[return-value]


def _flops_under(flops_by_path: dict[str, int], name: str) -> int:
    """FLOPs of module ``name``: its own entry, or, when it was not called through its
    ``forward`` (a head whose methods the detector calls), the sum of its outermost called
    descendants."""
    if name in flops_by_path:
        return flops_by_path[name]
    inside = [path for path in flops_by_path if path.startswith(name + ".")]
    outermost = [p for p in inside if not any(p.startswith(q + ".") for q in inside if q != p)]
    return sum(flops_by_path[p] for p in outermost)


def count_flops(
    model: torch.nn.Module, shape: tuple[int, int], size_divisor: int = 32, depth: int = 1
) -> FlopsReport:
    """Count ``model``'s FLOPs on one random ``(H, W) = shape`` image (see the module
    docstring); ``depth``: how deep module groups go (1: ``backbone``, ``neck``, ...)."""
    height, width = _padded(shape, size_divisor)
    device = next(model.parameters()).device
    img = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    meta = dict(
        img_shape=(height, width, 3),
        ori_shape=(height, width, 3),
        pad_shape=(height, width, 3),
        scale_factor=np.ones(4, np.float32),
        flip=False,
        flip_direction=None,
    )
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(img=[img], img_metas=[[meta]], return_loss=False, rescale=True)
    root = type(model).__name__ + "."
    flops_by_path = {
        k[len(root) :]: sum(v.values())
        for k, v in counter.get_flop_counts().items()
        if k.startswith(root)
    }
    total = counter.get_total_flops()
    groups: dict[str, tuple[int, float]] = {}
    for name, module in model.named_modules():
        if name and name.count(".") < depth:
            params = sum(p.numel() for p in module.parameters())
            groups[name] = (params, _flops_under(flops_by_path, name) / 1e9)
    top_level = sum(_flops_under(flops_by_path, name) for name, _ in model.named_children())
    if total - top_level > 0:  # ops the detector runs outside any submodule's forward
        groups["(outside submodules)"] = (0, (total - top_level) / 1e9)
    return FlopsReport(
        input_shape=(3, height, width),
        ori_shape=(3, *shape),
        gflops=counter.get_total_flops() / 1e9,
        params=sum(p.numel() for p in model.parameters()),
        groups=groups,
    )


def format_flops(report: FlopsReport) -> str:
    """mmdet's summary block plus a table of the module groups."""
    line = "=" * 30
    text = []
    if report.input_shape != report.ori_shape:
        text.append(
            f"{line}\nUse size divisor set input shape from {report.ori_shape} to "
            f"{report.input_shape}\n"
        )
    text.append(
        f"{line}\nInput shape: {report.input_shape}\nFlops: {report.gflops:.2f} GFLOPs\n"
        f"Params: {report.params / 1e6:.2f} M\n{line}"
    )
    text.append(f"{'module':<32}{'params':>12}{'GFLOPs':>10}{'% FLOPs':>9}")
    for name, (params, gflops) in report.groups.items():
        share = 100 * gflops / report.gflops if report.gflops else 0.0
        text.append(f"{name:<32}{params:>12,}{gflops:>10.3f}{share:>9.1f}")
    text.append(
        "!!!Please be cautious if you use the results in papers. You may need to check if "
        "all ops are supported and verify that the flops computation is correct."
    )
    return "\n".join(text)


def get_flops(
    config: Any,
    shape: tuple[int, ...] = (1280, 800),
    size_divisor: int = 32,
    depth: int = 1,
    device: str | None = None,
    cfg_options: Mapping[str, Any] | None = None,
) -> FlopsReport:
    """``get_flops.py``: build ``cfg.model`` (random weights, nothing downloaded) and count
    it on ``shape`` = ``(H, W)`` or ``(S,)`` (a square), as mmdet's ``--shape``.

    Raises:
        ValueError: ``shape`` has not 1 or 2 positive sizes.
    """
    from detkit.models import build_detector

    if len(shape) not in (1, 2) or any(int(v) <= 0 for v in shape):
        raise ValueError(f"invalid input shape {tuple(shape)}: give H W or one size")
    height, width = (int(shape[0]),) * 2 if len(shape) == 1 else (int(shape[0]), int(shape[1]))
    cfg = Config.load(config, cfg_options)
    cfg.model.pretrained = None
    if "backbone" in cfg.model:
        cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return count_flops(model, (height, width), size_divisor, depth)
