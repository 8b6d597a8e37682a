"""Mask R-CNN / Cascade Mask R-CNN R50-FPN speed: detkit vs torchvision, on one 1024x512 input.

Usage: python bench/model.py [--out FILE.json] [--threads 1,2,N] [--repeats 3] [--skip-train]
                             [--objects 8] [--no-compile] [--fresh-kernel-cache]

``--threads`` takes a comma-separated list: every row is measured at each thread count (the
JSON holds one result block per count, under ``by_threads``), each count in a fresh process:
PyTorch sizes NNPACK's thread pool once, at the first NNPACK convolution of a process, so a
later ``torch.set_num_threads`` would take detkit's NNPACK candidates away. The CPU capability
(``detkit.ops.cpu.probe_cpu``) and the thread settings are printed first. The bf16 row goes
through ``detkit.ops.cpu.cpu_autocast``: on a CPU without native bf16 it runs float32 (and says
so in the row's name), as detkit's own low-precision paths do, on the NCHW model (detkit's
fastest float32 layout) instead of the channels_last one bf16 runs on.

Both Mask R-CNNs hold the same weights: torchvision's
``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=81)`` random init
(seed 0, no download), copied into detkit's model from
``configs/_base_/models/mask_rcnn_r50_fpn.py`` under MMDetection's key names (background
class moved last), so both compute the same function and do the same work (the same
proposals, and NMS over the same candidates). The Cascade Mask R-CNN
(``cascade_mask_rcnn_r50_fpn.py``) shares backbone, neck and RPN. Matching settings:
no resizing (``min_size=512, max_size=1024``, identity normalisation), score threshold 0 so
that both keep the full 100 detections (and run their mask heads on 100 RoIs), 1000 test
proposals, training proposals 2000 -> 1000, 256 RPN / 512 RoI samples, stem + layer1 frozen
and BatchNorm in eval mode (mmdet's ``frozen_stages=1, norm_eval=True``). What still differs
is each library's own semantics: MMDetection's RoIAlign (``aligned=True``, adaptive
``sampling_ratio=0``) against torchvision's (``aligned=False``, 2×2 samples), and torchvision's
removal of tiny boxes.

detkit's rows run its fast kernels as chosen by the tuner on this machine
(:mod:`detkit.ops.tuner`; the first, untimed run of each model measures the shape classes not
in the cache, their cost reported as ``tuning_s``; ``--fresh-kernel-cache`` measures from an
empty cache, as on a user's first run); the ``_stock`` rows run the same detkit model with the
fast kernels off (``detkit.ops.fast_kernels(False)``: stock PyTorch), and the ratios
``*_vs_stock`` compare the two. :func:`detkit.ops.kernel_report` (the decisions summary) is
printed with the table.

Runs alternate in one process; medians of wall-clock and of process CPU time are reported (on
a shared machine the wall clock also counts time other processes hold the cores). Rows: fp32
inference in the default NCHW layout and with ``channels_last`` (for both libraries), the
cascade, detkit bf16 (``torch.autocast('cpu', torch.bfloat16)`` + ``channels_last``), and
``torch.compile`` of backbone + neck with inductor weight freezing (compile time reported
apart); fp32 train steps (forward + backward) in both layouts. ``bf16_agreement`` compares
bf16 and fp32 detections of the MMDetection-golden tiny model on its photo (../shared): COCO
bbox mAP of the bf16 detections scored against the fp32 detections as ground truth (1.0 = the
same detections).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from timing import alternate  # bench/timing.py

import detkit
from detkit.ops import fast_kernels, kernel_report, tuner
from detkit.ops.cpu import cpu_autocast, probe_cpu
from detkit.ops.threads import thread_settings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden" / "mmdet_v2_cascade_tiny"
H, W = 512, 1024


def _detkit_model(
    name: str, weights: dict[str, torch.Tensor], channels_last: bool = False, compiled: bool = False
) -> torch.nn.Module:
    """detkit's model from its base config, 80 classes, score threshold 0, holding
    ``weights`` (torchvision's, renamed) where its keys exist."""
    cfg = detkit.Config.fromfile(str(ROOT / "configs" / "_base_" / "models" / f"{name}.py")).model
    cfg.backbone.init_cfg = None
    cfg.test_cfg.rcnn.score_thr = 0.0
    cfg.channels_last = channels_last
    if compiled:
        # inductor with weight freezing (BN folded into convs) for the inference graph
        cfg.compile = dict(dynamic=False, options=dict(freezing=True))
    torch.manual_seed(0)
    model = detkit.build_detector(cfg)
    state = model.state_dict()
    model.load_state_dict({k: v for k, v in weights.items() if k in state}, strict=False)
    return model.eval()


def _torchvision_model(channels_last: bool = False) -> torch.nn.Module:
    """torchvision's Mask R-CNN R50-FPN with the settings above (random weights, seed 0)."""
    torch.manual_seed(0)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=81,
        min_size=H,
        max_size=W,
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
        box_score_thresh=0.0,
        box_detections_per_img=100,
        rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=1000,
        rpn_pre_nms_top_n_train=2000,
        rpn_post_nms_top_n_train=1000,
        rpn_batch_size_per_image=256,
        box_batch_size_per_image=512,
    )
    for name, param in model.backbone.body.named_parameters():
        if name.startswith(("conv1.", "bn1.", "layer1.")):
            param.requires_grad_(False)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model.eval()


def _torchvision_to_mmdet_keys(tv_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision Mask R-CNN (81 classes, background first) weights under MMDetection v2 key
    names (80 classes, background last), so both models compute the same function."""
    out: dict[str, torch.Tensor] = {}
    renames = {
        "backbone.fpn.inner_blocks.{i}.0.": "neck.lateral_convs.{i}.conv.",
        "backbone.fpn.layer_blocks.{i}.0.": "neck.fpn_convs.{i}.conv.",
        "roi_heads.mask_head.{i}.0.": "roi_head.mask_head.convs.{i}.conv.",
    }
    fixed = {
        "backbone.body.": "backbone.",
        "rpn.head.conv.0.0.": "rpn_head.rpn_conv.",
        "rpn.head.cls_logits.": "rpn_head.rpn_cls.",
        "rpn.head.bbox_pred.": "rpn_head.rpn_reg.",
        "roi_heads.box_head.fc6.": "roi_head.bbox_head.shared_fcs.0.",
        "roi_heads.box_head.fc7.": "roi_head.bbox_head.shared_fcs.1.",
        "roi_heads.mask_predictor.conv5_mask.": "roi_head.mask_head.upsample.",
    }
    for i in range(4):
        fixed.update({src.format(i=i): dst.format(i=i) for src, dst in renames.items()})
    for key, value in tv_state.items():
        prefix = next((p for p in fixed if key.startswith(p)), None)
        if prefix is not None:
            out[fixed[prefix] + key[len(prefix) :]] = value
    for kind in ("weight", "bias"):
        cls = tv_state[f"roi_heads.box_predictor.cls_score.{kind}"]
        out[f"roi_head.bbox_head.fc_cls.{kind}"] = torch.cat([cls[1:], cls[:1]])
        out[f"roi_head.bbox_head.fc_reg.{kind}"] = tv_state[
            f"roi_heads.box_predictor.bbox_pred.{kind}"
        ][4:]
        out[f"roi_head.mask_head.conv_logits.{kind}"] = tv_state[
            f"roi_heads.mask_predictor.mask_fcn_logits.{kind}"
        ][1:]
    return out


def _norm_eval(model: torch.nn.Module) -> None:
    for m in model.backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def _targets(num_objects: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(num_objects, 2, generator=gen) * torch.tensor([W - 200.0, H - 150.0])
    wh = 40 + torch.rand(num_objects, 2, generator=gen) * torch.tensor([160.0, 110.0])
    boxes = torch.cat([xy, xy + wh], dim=1).floor()
    labels = torch.randint(0, 80, (num_objects,), generator=gen)
    masks = torch.zeros(num_objects, H, W, dtype=torch.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        masks[k, y1:y2, x1:x2] = 1
    return boxes, labels, masks


def _meta() -> dict[str, Any]:
    return dict(
        img_shape=(H, W, 3),
        ori_shape=(H, W, 3),
        pad_shape=(H, W, 3),
        scale_factor=np.ones(4, dtype=np.float32),
        flip=False,
    )


def _golden_model() -> tuple[torch.nn.Module, torch.Tensor, dict[str, Any]]:
    """The tiny MMDetection-golden Cascade Mask R-CNN (trained-like score spread) and its
    coffee-photo input, from ../shared."""
    cfg = detkit.Config.fromfile(str(GOLDEN / "config.py")).model
    cfg.channels_last = True
    model = detkit.build_detector(cfg).eval()
    detkit.load_checkpoint(model, str(GOLDEN / "checkpoint.pth"), strict=True, logger="silent")
    inputs = torch.load(GOLDEN / "input.pt", weights_only=True)
    return model, inputs["img"], dict(inputs["img_metas"][0])


def _bf16_agreement() -> dict[str, Any]:
    """COCO bbox mAP of bf16 detections scored against the fp32 detections of the same model
    (the golden model on its photo; 1.0 = the same detections)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not GOLDEN.is_dir():
        return {"bbox_mAP": None, "note": f"{GOLDEN} not found"}
    model, img, meta = _golden_model()
    with torch.no_grad():
        ref = model.predict(img, [meta], rescale=True)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16's numbers, native or not
            test = model.predict(img, [meta], rescale=True)[0]

    def xywh(b: torch.Tensor) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "height": meta["ori_shape"][0], "width": meta["ori_shape"][1]}],
        "categories": [{"id": c + 1} for c in range(model.num_classes)],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": int(lab) + 1,
                "bbox": xywh(b),
                "area": xywh(b)[2] * xywh(b)[3],
                "iscrowd": 0,
            }
            for i, (b, lab) in enumerate(zip(ref.boxes, ref.labels))
        ],
    }
    gt.createIndex()
    dets = [
        {"image_id": 1, "category_id": int(lab) + 1, "score": float(s), "bbox": xywh(b)}
        for b, s, lab in zip(test.boxes, test.scores, test.labels)
    ]
    evaluator = COCOeval(gt, gt.loadRes(dets), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {
        "bbox_mAP": float(evaluator.stats[0]),
        "fp32_detections": len(ref),
        "bf16_detections": len(test),
        "model": "golden tiny Cascade Mask R-CNN, coffee photo",
    }


def _train_step(
    model: torch.nn.Module,
    img: torch.Tensor,
    detkit_model: bool,
    targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> Callable[[], None]:
    """One forward + backward of ``model`` (gradients dropped after each step)."""
    boxes, labels, masks = targets
    model.train()
    if not detkit_model:
        _norm_eval(model)
    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        if detkit_model:
            data = dict(
                img=img,
                img_metas=[_meta()],
                gt_bboxes=[boxes],
                gt_labels=[labels],
                gt_masks=[masks],
            )
            loss = model.train_step(data, None)["loss"]
        else:
            loss = sum(
                model(list(img), [dict(boxes=boxes, labels=labels + 1, masks=masks)]).values()
            )
        loss.backward()
        for p in params:
            p.grad = None

    return step


def _print_table(results: dict[str, Any]) -> None:
    print(f"--- {results['threads']} thread(s)")
    rows = [("inference", name, t) for name, t in results["inference"].items()]
    rows += [("train step", name, t) for name, t in results.get("train_step", {}).items()]
    print(f"{'':11} {'run':48} {'wall s':>7} {'CPU s':>7}")
    for kind, name, t in rows:
        print(f"{kind:11} {name:48} {t['wall_s']:7.2f} {t['cpu_s']:7.2f}")
    print()
    for key, value in results.items():
        if key.startswith("ratio_") and not key.endswith("_cpu_time"):
            print(f"{key:58} {value:5.2f} (CPU time {results[key + '_cpu_time']:.2f})")
    print(f"bf16 vs fp32 detections, bbox mAP: {results['bf16_agreement']['bbox_mAP']}")
    print(f"kernel tuning in this process: {results['tuning_s']:.2f} s")
    print(results["kernel_report"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument(
        "--threads", default="2", help="comma-separated thread counts, e.g. 1,2,16 (default 2)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--objects", type=int, default=8, help="gt objects for the train step")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument(
        "--fresh-kernel-cache",
        action="store_true",
        help="tune detkit's kernels from an empty cache (a temporary folder), as on first use",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip the torch.compile row (compiling takes minutes on CPU)",
    )
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    if args.fresh_kernel_cache:
        fresh = tempfile.TemporaryDirectory(prefix="detkit-kernels-")
        os.environ["DETKIT_KERNEL_CACHE"] = fresh.name  # read at the first kernel decision
    cap = probe_cpu()
    print(f"CPU: {cap.summary()}")
    print(f"threads: {thread_settings().summary()}")
    if len(counts) == 1:
        torch.set_num_threads(counts[0])
        by_threads = {str(counts[0]): _measure(args, counts[0])}
    else:
        by_threads = {str(count): _measure_in_fresh_process(args, count) for count in counts}
    if args.out:
        out = {
            "cpu": cap.summary(),
            "cpu_isa": cap.isa,
            "cpu_flags_low_precision": sorted(
                f for f in cap.flags if "bf16" in f or "fp16" in f or f.startswith("amx")
            ),
            "openmp_wait": thread_settings().openmp_wait,
            "by_threads": by_threads,
        }
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


def _measure_in_fresh_process(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """This script with ``--threads threads`` in a new interpreter (its table printed as it
    runs); returns its result block."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        command = [
            sys.executable,
            __file__,
            "--threads",
            str(threads),
            "--repeats",
            str(args.repeats),
            "--objects",
            str(args.objects),
            "--out",
            out,
        ]
        command += ["--skip-train"] * args.skip_train + ["--no-compile"] * args.no_compile
        command += ["--fresh-kernel-cache"] * args.fresh_kernel_cache
        subprocess.run(command, check=True)
        return json.loads(Path(out).read_text())["by_threads"][str(threads)]


def _measure(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """Every row at ``threads`` threads; prints the table and returns the results."""
    # seeded: the same image, hence the same detections (and mask-paste work), every run
    img = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    img_cl = img.contiguous(memory_format=torch.channels_last)
    theirs = _torchvision_model()
    theirs_cl = _torchvision_model(channels_last=True)
    weights = _torchvision_to_mmdet_keys(theirs.state_dict())
    ours = _detkit_model("mask_rcnn_r50_fpn", weights)
    ours_cl = _detkit_model("mask_rcnn_r50_fpn", weights, channels_last=True)
    cascade = _detkit_model("cascade_mask_rcnn_r50_fpn", weights)
    cascade_cl = _detkit_model("cascade_mask_rcnn_r50_fpn", weights, channels_last=True)
    results: dict[str, Any] = {
        "input": f"{W}x{H}",
        "threads": threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "load_average_before": os.getloadavg(),
        "weights": "torchvision's random init (seed 0) in both Mask R-CNNs; the cascade "
        "shares backbone, neck and RPN",
    }
    if not args.no_compile:
        compiled = _detkit_model("mask_rcnn_r50_fpn", weights, channels_last=True, compiled=True)
        start = time.perf_counter()
        with torch.no_grad():
            compiled.predict(img, [_meta()], rescale=True)
        results["compile_time_s"] = time.perf_counter() - start

    def infer(model: Any, bf16: bool = False) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad(), cpu_autocast(torch.bfloat16, enabled=bf16):
                return model.predict(img, [_meta()], rescale=True)

        return run

    # bf16 runs on the channels_last model; where it is not native, autocast runs float32,
    # on the model in detkit's fastest float32 layout (NCHW)
    native_bf16 = probe_cpu().native(torch.bfloat16)
    bf16_name = (
        "detkit_mask_rcnn_bf16_channels_last"
        if native_bf16
        else "detkit_mask_rcnn_bf16_requested_ran_fp32"
    )

    def stock(run: Callable[[], Any]) -> Callable[[], Any]:
        def stock_run() -> Any:
            with fast_kernels(False):
                return run()

        return stock_run

    def tv_infer(model: Any, x: torch.Tensor) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad():
                return model([x[0]])

        return run

    with torch.no_grad():
        results["detections"] = {
            "detkit": len(ours.predict(img, [_meta()], rescale=True)[0]),
            "torchvision": len(theirs([img[0]])[0]["boxes"]),
        }
    runs = {
        "torchvision_mask_rcnn": tv_infer(theirs, img),
        "detkit_mask_rcnn": infer(ours),
        "detkit_mask_rcnn_stock": stock(infer(ours)),
        "torchvision_mask_rcnn_channels_last": tv_infer(theirs_cl, img_cl),
        "detkit_mask_rcnn_channels_last": infer(ours_cl),
        "detkit_cascade_mask_rcnn": infer(cascade),
        "detkit_cascade_mask_rcnn_stock": stock(infer(cascade)),
        "detkit_cascade_mask_rcnn_channels_last": infer(cascade_cl),
        bf16_name: infer(ours_cl if native_bf16 else ours, bf16=True),
    }
    if not args.no_compile:
        runs["detkit_mask_rcnn_compiled_channels_last"] = infer(compiled)
    results["inference"] = alternate(runs, args.repeats)
    ratios = {  # name: (detkit run, reference run)
        "ratio_infer_vs_torchvision": ("detkit_mask_rcnn", "torchvision_mask_rcnn"),
        "ratio_infer_vs_stock": ("detkit_mask_rcnn", "detkit_mask_rcnn_stock"),
        "ratio_cascade_infer_vs_stock": (
            "detkit_cascade_mask_rcnn",
            "detkit_cascade_mask_rcnn_stock",
        ),
        "ratio_infer_channels_last_vs_torchvision_channels_last": (
            "detkit_mask_rcnn_channels_last",
            "torchvision_mask_rcnn_channels_last",
        ),
        "ratio_cascade_infer_vs_torchvision_mask": (
            "detkit_cascade_mask_rcnn",
            "torchvision_mask_rcnn",
        ),
        "ratio_cascade_infer_channels_last_vs_torchvision_mask_channels_last": (
            "detkit_cascade_mask_rcnn_channels_last",
            "torchvision_mask_rcnn_channels_last",
        ),
        "ratio_bf16_infer_vs_torchvision_fp32": (bf16_name, "torchvision_mask_rcnn"),
        "ratio_infer_compiled_vs_torchvision": (
            "detkit_mask_rcnn_compiled_channels_last",
            "torchvision_mask_rcnn",
        ),
    }
    results["bf16_agreement"] = _bf16_agreement()

    if not args.skip_train:
        targets = _targets(args.objects)
        results["train_step"] = alternate(
            {
                "torchvision_mask_rcnn": _train_step(theirs, img, False, targets),
                "detkit_mask_rcnn": _train_step(ours, img, True, targets),
                "detkit_mask_rcnn_stock": stock(_train_step(ours, img, True, targets)),
                "torchvision_mask_rcnn_channels_last": _train_step(
                    theirs_cl, img_cl, False, targets
                ),
                "detkit_mask_rcnn_channels_last": _train_step(ours_cl, img, True, targets),
            },
            args.repeats,
        )
        ratios["ratio_train_vs_torchvision"] = ("detkit_mask_rcnn", "torchvision_mask_rcnn")
        ratios["ratio_train_vs_stock"] = ("detkit_mask_rcnn", "detkit_mask_rcnn_stock")
        ratios["ratio_train_channels_last_vs_torchvision_channels_last"] = (
            "detkit_mask_rcnn_channels_last",
            "torchvision_mask_rcnn_channels_last",
        )
    for key, (ours_name, tv_name) in ratios.items():
        table = results["train_step" if key.startswith("ratio_train") else "inference"]
        if ours_name in table:
            results[key] = table[ours_name]["wall_s"] / table[tv_name]["wall_s"]
            results[key + "_cpu_time"] = table[ours_name]["cpu_s"] / table[tv_name]["cpu_s"]
    results["load_average_after"] = os.getloadavg()
    results["tuning_s"] = tuner._state.spent_s
    results["kernel_report"] = kernel_report(verbose=False)
    _print_table(results)
    return results


if __name__ == "__main__":
    main()
