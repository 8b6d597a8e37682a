"""CPU kernels detkit picks over PyTorch's defaults, each against the default on the same input.

Usage: python bench/kernels.py [--out FILE.json] [--threads 2] [--repeats 5] [--skip-roi-align]
                               [--only-crossovers] [--match TEXT]

Prints this CPU's capability first (``detkit.ops.cpu.probe_cpu``). To measure an AVX2 machine's
crossovers on an AVX-512 one, cap the kernel libraries:
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python
bench/kernels.py`` (NNPACK has AVX2 kernels only, so it is unchanged).

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
* a mask head's four 3×3 conv + ReLU layers on ``[100, 256, 14, 14]`` (and 16 RoIs):
  on the RoI mosaic (``detkit.ops.roi_mosaic``: pack, NNPACK's single-image Winograd,
  seams cleared, unpack) vs NNPACK's batched Winograd per RoI and vs oneDNN;
* crossovers: NNPACK's 3×3 forward called directly vs oneDNN on the FPN levels
  ``[1, 256, H, W]`` (strides 4-32) and on RoI batches ``[B, 256, 14, 14]``, each with the
  choice :func:`detkit.ops.policy.conv_policy` makes for this CPU, thread count and OpenMP
  wait (``policy``: nnpack/onednn; at 2+ threads the wait moves the crossovers: run once as
  is and once with ``GOMP_SPINCOUNT=3000``);
* bf16 autocast 3×3 conv on the stride-4 level vs float32 (native on AVX-512 BF16 / AMX,
  emulated and slower elsewhere: :func:`detkit.ops.cpu.cpu_autocast_dtype`);
* linear layers and unstrided 1×1 convolutions, forward and backward (``gemm_*``): oneDNN's
  matmul (``detkit.ops.gemm``; :func:`detkit.ops.policy.gemm_policy` names this CPU's choice
  in the row) vs ``nn.Linear`` / ``nn.Conv2d`` (MKL's GEMM): the box head's first fc
  ``[512, 12544] → 1024``, ResNet-50 and FPN 1×1 convs on one image, and a mask head's
  ``conv_logits`` on 100 RoIs of 28×28;
* ResNet-50's stem (7×7 stride-2 conv, BatchNorm, ReLU, 3×3 max-pool) on a ``[1, 3, 512, 1024]``
  image: on channels_last strides, converted in and out (``ResNet._stem``) vs on NCHW;
* RoIAlign forward and backward, 700 RoIs of 16-112 pixels (the RoIs FPN assigns to the
  stride-4 level; aspect ratios log-normal) on ``[1, 256, 128, 256]``, MMDetection's settings
  (7×7, adaptive sampling, ``aligned=True``): two GEMMs per RoI on a channels_last map
  (``detkit.ops.roi_align``) vs ``torchvision.ops.roi_align``.
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
from detkit.ops.conv import conv2d, nnpack_mosaic
from detkit.ops.cpu import probe_cpu
from detkit.ops.gemm import conv1x1, linear
from detkit.ops.policy import conv_policy, gemm_policy
from detkit.ops.roi_align import roi_align
from detkit.ops.threads import process_openmp_wait, thread_settings
from detkit.ops.winograd import conv3x3_weight_grad


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
        out_grad = grad[..., : x.size(2), : x.size(3)].contiguous()
        if via_detkit:
            return lambda: conv3x3_weight_grad(x, out_grad, 1)
        return lambda: torch.ops.aten.convolution_backward(
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
        )[1]

    stride8 = level[..., :64, :128].contiguous()
    return {
        "conv3x3_forward_level_1x256x128x256": (lambda: conv2d(conv, level), lambda: conv(level)),
        "conv3x3_forward_input_grad_level_1x256x128x256": (input_grad(True), input_grad(False)),
        "conv3x3_weight_grad_level_1x256x128x256": (
            weight_grad(level, True),
            weight_grad(level, False),
        ),
        "conv3x3_weight_grad_level_1x256x64x128": (
            weight_grad(stride8, True),
            weight_grad(stride8, False),
        ),
        "conv3x3_forward_rois_100x256x14x14": (lambda: conv2d(conv, rois), lambda: conv(rois)),
    }


def _mosaic_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (mosaic call, default call) for a mask head's conv stack on RoI batches."""
    convs = [torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False) for _ in range(4)]
    rows = {}
    for count in (100, 16):
        rois = torch.randn(count, 256, 14, 14, generator=gen)
        mosaic = nnpack_mosaic(convs[0], rois)

        def on_mosaic(rois: torch.Tensor = rois, mosaic: Any = mosaic) -> torch.Tensor:
            x = mosaic.pack(rois)
            for i, conv in enumerate(convs):
                x = torch.relu_(conv2d(conv, x))
                x = mosaic.clear_seams(x) if i < len(convs) - 1 else x
            return mosaic.unpack(x)

        def per_roi(rois: torch.Tensor = rois, nnpack: bool = True) -> torch.Tensor:
            x = rois
            for conv in convs:
                x = torch.relu_(conv2d(conv, x) if nnpack else conv(x))
            return x

        if mosaic is None:  # this CPU's policy keeps the per-RoI path
            continue
        name = f"mask_head_4convs_{count}x256x14x14_mosaic_vs_"
        rows[name + "per_roi_policy"] = (on_mosaic, per_roi)
        rows[name + "onednn"] = (on_mosaic, lambda rois=rois: per_roi(rois, False))
    return rows


def _crossover_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (NNPACK forward, oneDNN forward) on FPN levels and RoI batches; bf16 autocast
    vs float32."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False)
    policy = conv_policy(probe_cpu(), torch.get_num_threads(), process_openmp_wait())
    torch._nnpack_available()  # initialises NNPACK
    rows = {}
    for shape in (
        (1, 256, 128, 256),
        (1, 256, 64, 128),
        (1, 256, 32, 64),
        (1, 256, 16, 32),
        (100, 256, 14, 14),
        (8, 256, 14, 14),
    ):
        x = torch.randn(*shape, generator=gen)
        pick = "nnpack" if policy.nnpack_faster(*shape[:2], 256, *shape[2:]) else "onednn"
        name = f"nnpack_vs_onednn_{'x'.join(map(str, shape))}_policy_{pick}"
        rows[name] = (
            (lambda x=x: torch._nnpack_spatial_convolution(x, conv.weight, conv.bias, [1, 1])),
            (lambda x=x: conv(x)),
        )
    level = torch.randn(1, 256, 128, 256, generator=gen)

    def bf16() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return conv(level).float()

    rows["bf16_autocast_vs_fp32_conv3x3_1x256x128x256"] = (bf16, lambda: conv(level))
    return rows


def _gemm_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (detkit call, default call) for linear layers and 1×1 convolutions; a backward
    row returns the input and weight gradients, flattened and concatenated."""
    policy = gemm_policy(probe_cpu())
    pick = {True: "onednn", False: "pytorch"}
    rows = {}
    fc = torch.nn.Linear(12544, 1024)
    x = torch.randn(512, 12544, generator=gen)
    grad = torch.randn(512, 1024, generator=gen)

    def fc_grads(via_detkit: bool) -> Callable[[], torch.Tensor]:
        x_in = x.clone().requires_grad_()

        def run() -> torch.Tensor:
            out = linear(x_in, fc.weight, fc.bias) if via_detkit else fc(x_in)
            return torch.cat(
                [g.flatten() for g in torch.autograd.grad(out, (x_in, fc.weight), grad)]
            )

        return run

    with torch.no_grad():
        rows[f"gemm_linear_forward_512x12544_to_1024_policy_{pick[policy.forward]}"] = (
            lambda: linear(x, fc.weight, fc.bias),
            lambda: fc(x),
        )
    rows[f"gemm_linear_backward_512x12544_to_1024_policy_{pick[policy.backward]}"] = (
        fc_grads(True),
        fc_grads(False),
    )
    for shape, out_channels in (
        ((1, 1024, 32, 64), 256),
        ((1, 64, 128, 256), 256),
        ((1, 256, 128, 256), 256),
        ((100, 256, 28, 28), 80),
    ):
        conv = torch.nn.Conv2d(shape[1], out_channels, 1)
        fmap = torch.randn(*shape, generator=gen)
        name = f"gemm_conv1x1_{{}}_{'x'.join(map(str, shape))}_to_{out_channels}_policy_{{}}"
        with torch.no_grad():
            rows[name.format("forward", pick[policy.forward])] = (
                lambda conv=conv, fmap=fmap: conv1x1(conv, fmap),
                lambda conv=conv, fmap=fmap: conv(fmap),
            )
        if shape[0] > 1:
            continue
        out_grad = torch.randn(shape[0], out_channels, *shape[2:], generator=gen)

        def conv_grads(
            via_detkit: bool,
            conv: torch.nn.Conv2d = conv,
            fmap: torch.Tensor = fmap,
            out_grad: torch.Tensor = out_grad,
        ) -> Callable[[], torch.Tensor]:
            x_in = fmap.clone().requires_grad_()

            def run() -> torch.Tensor:
                out = conv1x1(conv, x_in) if via_detkit else conv(x_in)
                grads = torch.autograd.grad(out, (x_in, conv.weight), out_grad)
                return torch.cat([g.flatten() for g in grads])

            return run

        rows[name.format("backward", pick[policy.backward])] = (conv_grads(True), conv_grads(False))
    return rows


def _stem_rows(gen: torch.Generator) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (detkit's stem, the same modules on NCHW) for ResNet-50 at inference."""
    backbone = ResNet(50, out_indices=(0,)).eval().requires_grad_(False)
    image = torch.randn(1, 3, 512, 1024, generator=gen)

    def nchw() -> torch.Tensor:
        return backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(image))))

    return {"resnet_stem_1x3x512x1024_channels_last_vs_nchw": (lambda: backbone._stem(image), nchw)}


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
        "roi_align_forward_700": (
            lambda: roi_align(layer, level_cl, rois),
            lambda: layer(level, rois),
        ),
        "roi_align_backward_700": (backward(True), backward(False)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-roi-align", action="store_true")
    parser.add_argument(
        "--only-crossovers",
        action="store_true",
        help="only the NNPACK/oneDNN crossover and bf16 rows",
    )
    parser.add_argument("--match", default="", help="only the rows whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = (
        {}
        if args.only_crossovers
        else {**_conv_rows(gen), **_mosaic_rows(gen), **_gemm_rows(gen), **_stem_rows(gen)}
    )
    rows.update(_crossover_rows(gen))
    if not (args.skip_roi_align or args.only_crossovers):
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
    print(f"{'row':58} {'detkit s':>9} {'default s':>9} {'ratio':>6} {'rel. diff':>10}")
    for name, (ours, default) in rows.items():
        with torch.set_grad_enabled(any(key in name for key in ("input_grad", "backward"))):
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
            f"{name:58} {row['detkit_s']:9.4f} {row['default_s']:9.4f} {row['ratio']:6.2f} "
            f"{diff:10.1e}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
