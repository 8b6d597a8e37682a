"""Zoo backbones' inference time on one 3×512×1024 image, beside torchvision's equivalent.

Usage: python bench/backbones.py [--out FILE.json] [--threads 2] [--repeats 3] [--match TEXT]

Rows pair detkit's MMDetection-v2.28 backbone (random init, eval mode, ``torch.no_grad``,
all four outputs) with torchvision's model of the same architecture run to the same depth
(``weights=None``; ResNeXt: stem + ``layer1..4``; RegNet: ``stem`` + ``trunk_output``; Swin:
``features`` + ``norm``). Backbones torchvision does not have (HRNetV2p-W18, Res2Net-50,
ResNeSt-50, ResNeXt-101 32x4d) are timed alone. The last row is deformable RoI pooling
(``DeformRoIPoolPack``, pure PyTorch) beside torchvision's aligned ``roi_align`` on 512 RoIs
of a 256-channel stride-4 map. Runs alternate; wall-clock medians (shared machine: the wall
clock also counts time other processes hold the cores). The CPU is printed first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torchvision
from timing import alternate  # bench/timing.py

from detkit.models.backbones import HRNet, RegNet, Res2Net, ResNeSt, ResNeXt, SwinTransformer
from detkit.models.layers import DeformRoIPoolPack
from detkit.ops.cpu import probe_cpu

_W18 = dict(
    stage1=dict(
        num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(64,)
    ),
    stage2=dict(
        num_modules=1, num_branches=2, block="BASIC", num_blocks=(4, 4), num_channels=(18, 36)
    ),
    stage3=dict(
        num_modules=4,
        num_branches=3,
        block="BASIC",
        num_blocks=(4, 4, 4),
        num_channels=(18, 36, 72),
    ),
    stage4=dict(
        num_modules=3,
        num_branches=4,
        block="BASIC",
        num_blocks=(4, 4, 4, 4),
        num_channels=(18, 36, 72, 144),
    ),
)


def _resnet_trunk(model: nn.Module) -> Callable[[torch.Tensor], Any]:
    def run(x: torch.Tensor) -> list[torch.Tensor]:
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        outs = []
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            x = layer(x)
            outs.append(x)
        return outs

    return run


def _regnet_trunk(model: nn.Module) -> Callable[[torch.Tensor], Any]:
    def run(x: torch.Tensor) -> list[torch.Tensor]:
        x = model.stem(x)
        outs = []
        for block in model.trunk_output:
            x = block(x)
            outs.append(x)
        return outs

    return run


def _swin_trunk(model: nn.Module) -> Callable[[torch.Tensor], Any]:
    return lambda x: model.norm(model.features(x))


def _pairs() -> dict[str, tuple[nn.Module, Callable[[torch.Tensor], Any] | None]]:
    """Row name → (detkit backbone, torchvision forward or None)."""
    tv = torchvision.models
    resnext = tv.resnext101_32x8d()
    regnet = tv.regnet_x_3_2gf()
    swin = tv.swin_t()
    return {
        "ResNeXt-101 32x8d": (ResNeXt(depth=101, groups=32, base_width=8), _resnet_trunk(resnext)),
        "ResNeXt-101 32x4d": (ResNeXt(depth=101, groups=32, base_width=4), None),
        "RegNetX-3.2GF": (RegNet(arch="regnetx_3.2gf"), _regnet_trunk(regnet)),
        "Swin-T": (SwinTransformer(), _swin_trunk(swin)),
        "HRNetV2p-W18": (HRNet(extra=_W18), None),
        "Res2Net-50 26w4s": (Res2Net(depth=50, scales=4, base_width=26), None),
        "ResNeSt-50": (ResNeSt(depth=50, radix=2, reduction_factor=4, stem_channels=64), None),
    }


def _roi_rows(gen: torch.Generator) -> tuple[Callable[[], Any], Callable[[], Any]]:
    feats = torch.randn(1, 256, 128, 256, generator=gen)
    xy = torch.rand(512, 2, generator=gen) * torch.tensor([900.0, 400.0])
    wh = 16 + torch.rand(512, 2, generator=gen) * 200
    rois = torch.cat([torch.zeros(512, 1), xy, xy + wh], dim=1)
    pack = DeformRoIPoolPack(7, 256, spatial_scale=0.25).eval()

    def ours() -> Any:
        return pack(feats, rois)

    def default() -> Any:
        return torchvision.ops.roi_align(feats, rois, 7, 0.25, 0, aligned=True)

    return ours, default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--match", default="", help="only rows whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cap = probe_cpu()
    print(f"CPU: {cap.summary()}  threads: {args.threads}")
    results: dict[str, Any] = {
        "threads": args.threads,
        "repeats": args.repeats,
        "input": [1, 3, 512, 1024],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu": cap.summary(),
        "rows": {},
    }
    print(f"{'row':34} {'detkit s':>9} {'torchvision s':>13} {'ratio':>6}")
    image = torch.randn(1, 3, 512, 1024)
    rows: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]] = {}
    for name, (model, reference) in _pairs().items():
        model.eval()
        rows[name] = (
            lambda m=model: m(image),
            None if reference is None else (lambda r=reference: r(image)),
        )
    ours, default = _roi_rows(torch.Generator().manual_seed(0))
    rows["DeformRoIPoolPack 512 RoIs (vs RoIAlign)"] = (ours, default)
    with torch.no_grad():
        for name, (detkit_run, torchvision_run) in rows.items():
            if args.match not in name:
                continue
            runs = {"detkit": detkit_run}
            if torchvision_run is not None:
                runs["torchvision"] = torchvision_run
            times = alternate(runs, args.repeats)
            row: dict[str, float | None] = {
                "detkit_s": times["detkit"]["wall_s"],
                "torchvision_s": times.get("torchvision", {}).get("wall_s"),
            }
            ref = row["torchvision_s"]
            row["ratio"] = None if ref is None else times["detkit"]["wall_s"] / ref
            results["rows"][name] = row
            ref_text = "-" if ref is None else f"{ref:.3f}"
            ratio_text = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
            print(f"{name:34} {row['detkit_s']:9.3f} {ref_text:>13} {ratio_text:>6}", flush=True)
            if args.out:  # after every row: an interrupted run keeps what it measured
                Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
