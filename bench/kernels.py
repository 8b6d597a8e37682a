"""Each of detkit's CPU kernel candidates pinned by hand against stock PyTorch on the same input,
and what the tuner picks on this machine.

Usage: python bench/kernels.py [--out FILE.json] [--threads 2] [--repeats 5] [--skip-roi-align]
                               [--match TEXT]

Prints this CPU's capability first (``detkit.ops.cpu.probe_cpu``). To see an AVX2 machine's
choices on an AVX-512 one, cap the kernel libraries:
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python
bench/kernels.py`` (NNPACK has AVX2 kernels only, so it is unchanged).

Rows are named ``<op>__<candidate>__<input>``: detkit's call with ``op`` pinned to
``candidate`` (:func:`detkit.ops.force_kernels`) / the same call with the fast kernels off
(``detkit.ops.fast_kernels(False)``: stock PyTorch), alternating runs, wall-clock medians;
outputs compared (the largest difference relative to the largest stock value):

* ``conv3x3`` (NNPACK's Winograd) on one stride-4 FPN level ``[1, 256, 128, 256]`` and on a
  mask head's RoI batch ``[100, 256, 14, 14]``; ``conv3x3_input_grad`` (forward + input
  gradient) on the level; the kernel gradient ``conv3x3_weight_grad`` (Winograd's
  F(4×4, 3×3), products by oneDNN or MKL) on the stride-4 and stride-8 levels;
* ``conv3x3`` NNPACK on the FPN levels (strides 4-32) and RoI batches ``[B, 256, 14, 14]``:
  the crossovers the tuner measures, each row's name ending in the tuner's own choice;
* ``roi_mosaic``: a mask head's four 3×3 conv + ReLU layers on 100 and 16 RoIs of 14×14 on
  one mosaic of the maps (``detkit.ops.roi_mosaic``), NNPACK pinned;
* ``linear`` / ``linear_backward`` / ``conv1x1`` / ``conv1x1_backward``: oneDNN's matmul
  (``detkit.ops.gemm``) on the box head's first fc ``[512, 12544] → 1024``, ResNet-50 and
  FPN 1×1 convs on one image and a mask head's ``conv_logits`` on 100 RoIs of 28×28;
* ``layout:resnet_stem``: ResNet-50's stem on a ``[1, 3, 512, 1024]`` image on channels_last
  strides; ``deconv``: the mask head's 2×2 deconvolution on a channels_last copy;
* ``roi_align``: 700 RoIs of 16-112 pixels on ``[1, 256, 128, 256]`` (MMDetection's 7×7,
  adaptive sampling, ``aligned=True``), forward and backward: detkit's GEMM RoIAlign on a
  channels_last map vs ``torchvision.ops.roi_align`` on NCHW (no tuner: always taken with the
  fast kernels on);
* ``bf16``: autocast bf16 3×3 conv on the stride-4 level vs float32 (where bf16 is native:
  AVX-512 BF16 or AMX).

Every row's detkit call first runs once with nothing pinned (the tuner decides, or reads its
cache); :func:`detkit.ops.kernel_report` then prints what it chose and measured.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from timing import alternate  # bench/timing.py
from torchvision.ops import RoIAlign

from detkit.models.backbones.resnet import ResNet
from detkit.ops import fast_kernels, force_kernels, kernel_decisions, kernel_report
from detkit.ops.conv import ConvTranspose2d, conv2d
from detkit.ops.cpu import probe_cpu
from detkit.ops.gemm import conv1x1, linear
from detkit.ops.roi_align import roi_align
from detkit.ops.roi_mosaic import roi_conv_stack
from detkit.ops.shape_class import map_class
from detkit.ops.threads import process_openmp_wait, thread_settings
from detkit.ops.winograd import conv3x3_weight_grad

Call = Callable[[], Any]
Rows = dict[str, tuple[Call, Call]]


def _rois(num: int, gen: torch.Generator) -> torch.Tensor:
    """``[num, 5]`` boxes of sqrt-area 16-112 px inside a 1024×512 image, batch index 0."""
    scale = 16 + torch.rand(num, generator=gen) * 96
    aspect = torch.exp(torch.randn(num, generator=gen) * 0.5)
    wh = torch.stack([scale * aspect.sqrt(), scale / aspect.sqrt()], 1)
    xy = torch.rand(num, 2, generator=gen) * (torch.tensor([1024.0, 512.0]) - wh).clamp(min=0)
    return torch.cat([torch.zeros(num, 1), xy, xy + wh], 1)


def pinned(pins: dict[str, str], fn: Call) -> Call:
    """``fn`` with the ops of ``pins`` pinned to their candidates."""

    def run() -> Any:
        with force_kernels(pins):
            return fn()

    run.unpinned = fn  # type: ignore[attr-defined]
    return run


def stock(fn: Call) -> Call:
    """``fn`` with detkit's fast kernels off (stock PyTorch)."""

    def run() -> Any:
        with fast_kernels(False):
            return fn()

    return run


def _tuned(op: str, shape: str) -> str:
    """The tuner's choice for ``op`` on the shape class ``shape`` in this process."""
    found = [d.choice for d in kernel_decisions() if d.op == op and d.shape == shape]
    return found[-1] if found else "none"


def _conv_rows(gen: torch.Generator) -> Rows:
    """3×3 convolutions: NNPACK forward and input gradient, the Winograd kernel gradient."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False)
    level = torch.randn(1, 256, 128, 256, generator=gen)
    rois = torch.randn(100, 256, 14, 14, generator=gen)
    grad = torch.randn(1, 256, 128, 256, generator=gen)
    x = level.clone().requires_grad_()

    def input_grad() -> torch.Tensor:
        return torch.autograd.grad(conv2d(conv, x), x, grad)[0]

    def weight_grad(x: torch.Tensor, products: str) -> tuple[Call, Call]:
        out_grad = grad[..., : x.size(2), : x.size(3)].contiguous()
        return (
            lambda: conv3x3_weight_grad(x, out_grad, 1, products),  # type: ignore[arg-type]
            lambda: torch.ops.aten.convolution_backward(
                out_grad,
                x,
                conv.weight,
                None,
                [1, 1],
                [1, 1],
                [1, 1],
                False,
                [0, 0],
                1,
                [False, True, False],
            )[1],
        )

    nnpack = {"conv3x3": "nnpack", "conv3x3_input_grad": "nnpack"}
    stride8 = level[..., :64, :128].contiguous()
    rows: Rows = {
        "conv3x3__nnpack__1x256x128x256": (
            pinned(nnpack, lambda: conv2d(conv, level)),
            stock(lambda: conv2d(conv, level)),
        ),
        "conv3x3_input_grad__nnpack__1x256x128x256": (
            pinned(nnpack, input_grad),
            stock(input_grad),
        ),
        "conv3x3__nnpack__100x256x14x14": (
            pinned(nnpack, lambda: conv2d(conv, rois)),
            stock(lambda: conv2d(conv, rois)),
        ),
    }
    for products in ("onednn", "mkl"):
        rows[f"conv3x3_weight_grad__winograd_{products}__1x256x128x256"] = weight_grad(
            level, products
        )
        rows[f"conv3x3_weight_grad__winograd_{products}__1x256x64x128"] = weight_grad(
            stride8, products
        )
    return rows


def _crossover_rows(gen: torch.Generator) -> Rows:
    """NNPACK's forward vs stock on FPN levels and RoI batches, named with the tuner's
    choice; bf16 autocast vs float32."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False)
    rows: Rows = {}
    for shape in (
        (1, 256, 128, 256),
        (1, 256, 64, 128),
        (1, 256, 32, 64),
        (1, 256, 16, 32),
        (100, 256, 14, 14),
        (8, 256, 14, 14),
    ):
        x = torch.randn(*shape, generator=gen)
        conv2d(conv, x)  # the tuner decides (or reads its cache)
        tuned = _tuned("conv3x3", map_class(x, "256>256 p1"))
        name = f"conv3x3__nnpack__{'x'.join(map(str, shape))}__tuned_{tuned}"
        rows[name] = (
            pinned({"conv3x3": "nnpack"}, lambda x=x: conv2d(conv, x)),
            stock(lambda x=x: conv2d(conv, x)),
        )
    if not probe_cpu().native(torch.bfloat16):  # emulated bf16 convs take minutes
        return rows
    level = torch.randn(1, 256, 128, 256, generator=gen)

    def bf16() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return conv(level).float()

    rows["bf16__autocast__1x256x128x256"] = (bf16, lambda: conv(level))
    return rows


def _mosaic_rows(gen: torch.Generator) -> Rows:
    """A mask head's conv stack on RoI batches on one mosaic (NNPACK) vs stock."""
    convs = [torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False) for _ in range(4)]
    layers = [lambda t, c=c: torch.relu_(conv2d(c, t)) for c in convs]
    rows: Rows = {}
    for count in (100, 16):
        rois = torch.randn(count, 256, 14, 14, generator=gen)
        rows[f"roi_mosaic__mosaic__{count}x256x14x14"] = (
            pinned(
                {"roi_mosaic": "mosaic", "conv3x3": "nnpack"},
                lambda rois=rois: roi_conv_stack(layers, rois, convs),
            ),
            stock(lambda rois=rois: roi_conv_stack(layers, rois, convs)),
        )
    return rows


def _gemm_rows(gen: torch.Generator) -> Rows:
    """Linear layers and 1×1 convolutions on oneDNN's matmul vs stock; a backward row returns
    the input and weight gradients, flattened and concatenated."""
    onednn = {op: "onednn" for op in ("linear", "linear_backward", "conv1x1", "conv1x1_backward")}
    rows: Rows = {}
    fc = torch.nn.Linear(12544, 1024)
    x = torch.randn(512, 12544, generator=gen)
    grad = torch.randn(512, 1024, generator=gen)
    x_in = x.clone().requires_grad_()

    def fc_grads() -> torch.Tensor:
        out = linear(x_in, fc.weight, fc.bias)
        return torch.cat([g.flatten() for g in torch.autograd.grad(out, (x_in, fc.weight), grad)])

    def fc_forward() -> torch.Tensor:
        with torch.no_grad():
            return linear(x, fc.weight, fc.bias)

    rows["linear__onednn__512x12544_to_1024"] = (pinned(onednn, fc_forward), stock(fc_forward))
    rows["linear_backward__onednn__512x12544_to_1024"] = (pinned(onednn, fc_grads), stock(fc_grads))
    for shape, out_channels in (
        ((1, 1024, 32, 64), 256),
        ((1, 64, 128, 256), 256),
        ((1, 256, 128, 256), 256),
        ((100, 256, 28, 28), 80),
    ):
        conv = torch.nn.Conv2d(shape[1], out_channels, 1)
        fmap = torch.randn(*shape, generator=gen)
        name = f"{{}}__onednn__{'x'.join(map(str, shape))}_to_{out_channels}"

        def forward(conv: torch.nn.Conv2d = conv, fmap: torch.Tensor = fmap) -> torch.Tensor:
            with torch.no_grad():
                out = conv1x1(conv, fmap)
                return conv(fmap) if out is None else out

        rows[name.format("conv1x1")] = (pinned(onednn, forward), stock(forward))
        if shape[0] > 1:
            continue
        out_grad = torch.randn(shape[0], out_channels, *shape[2:], generator=gen)
        fmap_in = fmap.clone().requires_grad_()

        def grads(
            conv: torch.nn.Conv2d = conv,
            fmap_in: torch.Tensor = fmap_in,
            out_grad: torch.Tensor = out_grad,
        ) -> torch.Tensor:
            out = conv1x1(conv, fmap_in)
            out = conv(fmap_in) if out is None else out
            return torch.cat(
                [g.flatten() for g in torch.autograd.grad(out, (fmap_in, conv.weight), out_grad)]
            )

        rows[name.format("conv1x1_backward")] = (pinned(onednn, grads), stock(grads))
    return rows


def _layout_rows(gen: torch.Generator) -> Rows:
    """ResNet-50's stem and a mask head's deconvolution on channels_last vs NCHW."""
    backbone = ResNet(50, out_indices=(0,)).eval().requires_grad_(False)
    image = torch.randn(1, 3, 512, 1024, generator=gen)
    deconv = ConvTranspose2d(256, 256, 2, stride=2).requires_grad_(False)
    rois = torch.randn(100, 256, 14, 14, generator=gen)

    def stem() -> torch.Tensor:
        with torch.no_grad():
            return backbone._stem(image)

    def upsample() -> torch.Tensor:
        with torch.no_grad():
            return deconv(rois).contiguous()

    return {
        "layout:resnet_stem__channels_last__1x3x512x1024": (
            pinned({"layout:resnet_stem": "channels_last"}, stem),
            stock(stem),
        ),
        "deconv__channels_last__100x256x14x14": (
            pinned({"deconv": "channels_last"}, upsample),
            stock(upsample),
        ),
    }


def _roi_align_rows(gen: torch.Generator) -> Rows:
    """detkit's RoIAlign (channels_last map) vs torchvision's (NCHW), forward and backward."""
    layer = RoIAlign(7, 0.25, 0, True)
    level = torch.randn(1, 256, 128, 256, generator=gen)
    level_cl = level.contiguous(memory_format=torch.channels_last)
    rois = _rois(700, gen)
    grad = torch.randn(700, 256, 7, 7, generator=gen)

    def backward(via_detkit: bool) -> Call:
        x = (level_cl if via_detkit else level).clone().requires_grad_()
        out = roi_align(layer, x, rois) if via_detkit else layer(x, rois)
        return lambda: torch.autograd.grad(out, x, grad, retain_graph=True)[0]

    return {
        "roi_align__gemm__700": (
            lambda: roi_align(layer, level_cl, rois),
            lambda: layer(level, rois),
        ),
        "roi_align_backward__gemm__700": (backward(True), backward(False)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-roi-align", action="store_true")
    parser.add_argument("--match", default="", help="only the rows whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = {
        **_conv_rows(gen),
        **_crossover_rows(gen),
        **_mosaic_rows(gen),
        **_gemm_rows(gen),
        **_layout_rows(gen),
    }
    if not args.skip_roi_align:
        rows.update(_roi_align_rows(gen))
    rows = {name: pair for name, pair in rows.items() if args.match in name}
    cap = probe_cpu()
    print(f"CPU: {cap.summary()}")
    print(f"threads: {thread_settings().summary()}")
    results: dict[str, Any] = {
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu": cap.summary(),
        "cpu_isa": cap.isa,
        "onednn_max_isa": cap.onednn_max_isa,
        "openmp_wait": process_openmp_wait(),
        "rows": {},
    }
    for ours, _ in rows.values():  # nothing pinned: the tuner's own choices, reported below
        unpinned = getattr(ours, "unpinned", None)
        if unpinned is not None:
            unpinned()
    print(
        f"{'row (op__candidate__input)':64} {'pinned s':>9} {'stock s':>9} {'ratio':>6} "
        f"{'rel. diff':>10}"
    )
    for name, (ours, default) in rows.items():
        expected = default()
        diff = ((ours().float() - expected).abs().max() / expected.abs().max()).item()
        times = alternate({"detkit": ours, "default": default}, args.repeats)
        row = {
            "detkit_s": times["detkit"]["wall_s"],
            "default_s": times["default"]["wall_s"],
            "max_rel_diff": diff,
        }
        row["ratio"] = row["detkit_s"] / row["default_s"]
        results["rows"][name] = row
        print(
            f"{name:64} {row['detkit_s']:9.4f} {row['default_s']:9.4f} {row['ratio']:6.2f} "
            f"{diff:10.1e}"
        )
    report = kernel_report()
    print(report)
    results["kernel_report"] = report
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
