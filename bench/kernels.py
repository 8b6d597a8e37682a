"""CPU kernels detkit picks over PyTorch's defaults, each against the default on the same input.

Usage: python bench/kernels.py [--out FILE.json] [--threads 2] [--repeats 5]

Rows (detkit's call / the default call, alternating runs, wall-clock medians; outputs compared:
the largest difference relative to the largest default value):

* 3×3 conv forward, and forward + input gradient, on one stride-4 FPN level
  ``[1, 256, 128, 256]``:
  NNPACK's single-image Winograd (``detkit.ops.conv``) vs oneDNN;
* 3×3 conv kernel gradient on the stride-4 and stride-8 FPN levels (``[1, 256, 128, 256]``,
  ``[1, 256, 64, 128]``): Winograd's F(4×4, 3×3) (``detkit.ops.winograd``) vs
  oneDNN;
* 3×3 conv forward on a mask head's RoI batch ``[100, 256, 14, 14]``: NNPACK's batched
  Winograd vs oneDNN;
* RoIAlign forward and backward, 700 RoIs of 16-112 pixels (the RoIs FPN assigns to the
  stride-4 level; aspect ratios log-normal) on ``[1, 256, 128, 256]``, MMDetection's settings
  (7×7, adaptive sampling, ``aligned=True``): two GEMMs per RoI on a channels_last map
  (``detkit.ops.roi_align``) vs ``torchvision.ops.roi_align``.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torchvision.ops import RoIAlign

from detkit.ops.conv import conv2d
from detkit.ops.roi_align import roi_align
from detkit.ops.winograd import conv3x3_weight_grad

from timing import alternate  # bench/timing.py


def _rois(num: int, gen: torch.Generator) -> torch.Tensor:
    """``[num, 5]`` boxes of sqrt-area 16-112 px inside a 1024×512 image, batch index 0."""
    scale = 16 + torch.rand(num, generator=gen) * 96
    aspect = torch.exp(torch.randn(num, generator=gen) * 0.5)
    wh = torch.stack([scale * aspect.sqrt(), scale / aspect.sqrt()], 1)
    xy = torch.rand(num, 2, generator=gen) * (torch.tensor([1024.0, 512.0]) - wh).clamp(min=0)
    return torch.cat([torch.zeros(num, 1), xy, xy + wh], 1)


def _conv_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (detkit call, default call) for the convolutions."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False)
    level = torch.randn(1, 256, 128, 256, generator=gen)
    rois = torch.randn(100, 256, 14, 14, generator=gen)
    grad = torch.randn(1, 256, 128, 256, generator=gen)

    def input_grad(via_detkit: bool) -> Callable[[], torch.Tensor]:
        x = level.clone().requires_grad_()

        def run() -> torch.Tensor:
            out = conv2d(conv, x) if via_detkit else conv(x)
            return torch.autograd.grad(out, x, grad)[0]
        return run

    def weight_grad(x: torch.Tensor, via_detkit: bool) -> Callable[[], torch.Tensor]:
        out_grad = grad[..., :x.size(2), :x.size(3)].contiguous()
        if via_detkit:
            return lambda: conv3x3_weight_grad(x, out_grad, 1)
        return lambda: torch.ops.aten.convolution_backward(
            out_grad, x, conv.weight, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
            [False, True, False])[1]

    stride8 = level[..., :64, :128].contiguous()
    return {
        "conv3x3_forward_level_1x256x128x256": (lambda: conv2d(conv, level), lambda: conv(level)),
        "conv3x3_forward_input_grad_level_1x256x128x256": (input_grad(True), input_grad(False)),
        "conv3x3_weight_grad_level_1x256x128x256": (weight_grad(level, True),
                                                    weight_grad(level, False)),
        "conv3x3_weight_grad_level_1x256x64x128": (weight_grad(stride8, True),
                                                   weight_grad(stride8, False)),
        "conv3x3_forward_rois_100x256x14x14": (lambda: conv2d(conv, rois), lambda: conv(rois)),
    }


def _roi_align_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (detkit call, torchvision call) for RoIAlign forward and backward."""
    layer = RoIAlign(7, 0.25, 0, True)
    level = torch.randn(1, 256, 128, 256, generator=gen)
    level_cl = level.contiguous(memory_format=torch.channels_last)
    rois = _rois(700, gen)
    grad = torch.randn(700, 256, 7, 7, generator=gen)

    def backward(via_detkit: bool) -> Callable[[], torch.Tensor]:
        x = (level_cl if via_detkit else level).clone().requires_grad_()
        out = roi_align(layer, x, rois) if via_detkit else layer(x, rois)
        return lambda: torch.autograd.grad(out, x, grad, retain_graph=True)[0]

    return {
        "roi_align_forward_700": (lambda: roi_align(layer, level_cl, rois), lambda: layer(level, rois)),
        "roi_align_backward_700": (backward(True), backward(False)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = {**_conv_rows(gen), **_roi_align_rows(gen)}
    results: dict[str, Any] = {"threads": args.threads, "repeats": args.repeats,
                               "torch": torch.__version__, "torchvision": torchvision.__version__,
                               "cpu": platform.processor() or platform.machine(), "rows": {}}
    print(f"{'row':46} {'detkit s':>9} {'default s':>9} {'ratio':>6} {'rel. diff':>10}")
    for name, (ours, default) in rows.items():
        with torch.set_grad_enabled("input_grad" in name or "backward" in name):
            expected = default()
            diff = ((ours() - expected).abs().max() / expected.abs().max()).item()
            times = alternate({"detkit": ours, "default": default}, args.repeats)
        row = {"detkit_s": times["detkit"]["wall_s"], "default_s": times["default"]["wall_s"],
               "max_rel_diff": diff}
        row["ratio"] = row["detkit_s"] / row["default_s"]
        results["rows"][name] = row
        print(f"{name:46} {row['detkit_s']:9.4f} {row['default_s']:9.4f} {row['ratio']:6.2f} "
              f"{diff:10.1e}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
