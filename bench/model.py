"""Mask R-CNN / Cascade Mask R-CNN R50-FPN speed: detkit vs torchvision, on one 1024x512 input.

Usage: python bench/model.py [--out FILE.json] [--threads 2] [--repeats 3] [--skip-train]
                             [--objects 8]

Both models are built with random weights (no download): detkit's from
``configs/_base_/models/{mask_rcnn,cascade_mask_rcnn}_r50_fpn.py`` (80 classes), torchvision's
``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=81)`` with matching
settings: no resizing (``min_size=512, max_size=1024``), score threshold 0 so that both keep
the full 100 detections (and run their mask heads on 100 RoIs), 1000 test proposals, training
proposals 2000 -> 1000, 256 RPN / 512 RoI samples, stem + layer1 frozen and BatchNorm in eval
mode (mmdet's ``frozen_stages=1, norm_eval=True``). Runs alternate in one process; medians of
wall-clock and of process CPU time are reported (on a shared machine the wall clock also
counts time other processes hold the cores).

Rows: fp32 inference (eager; channels_last; ``torch.compile`` of backbone + neck with
inductor weight freezing, compile time reported apart), fp32 train step (forward + backward),
Cascade Mask R-CNN fp32 inference, and detkit bf16 (``torch.autocast('cpu', torch.bfloat16)`` + ``channels_last``)
inference. ``bf16_agreement`` compares bf16 and fp32 detections of the MMDetection-golden tiny
model on its photo (../shared): COCO bbox mAP of the bf16 detections scored against the fp32
detections as ground truth (1.0 = the same detections).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

import detkit

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden" / "mmdet_v2_cascade_tiny"
H, W = 512, 1024


def _detkit_model(name: str, channels_last: bool = False, compiled: bool = False) -> torch.nn.Module:
    cfg = detkit.Config.fromfile(str(ROOT / "configs" / "_base_" / "models" / f"{name}.py")).model
    cfg.backbone.init_cfg = None
    cfg.test_cfg.rcnn.score_thr = 0.0
    cfg.channels_last = channels_last
    if compiled:
        # inductor with weight freezing (BN folded into convs) for the inference graph
        cfg.compile = dict(dynamic=False, options=dict(freezing=True))
    torch.manual_seed(0)
    return detkit.build_detector(cfg)


def _torchvision_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=81, min_size=H, max_size=W,
        box_score_thresh=0.0, box_detections_per_img=100, rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=1000, rpn_pre_nms_top_n_train=2000,
        rpn_post_nms_top_n_train=1000, rpn_batch_size_per_image=256,
        box_batch_size_per_image=512)
    for name, param in model.backbone.body.named_parameters():
        if name.startswith(("conv1.", "bn1.", "layer1.")):
            param.requires_grad_(False)
    return model


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
    return dict(img_shape=(H, W, 3), ori_shape=(H, W, 3), pad_shape=(H, W, 3),
                scale_factor=np.ones(4, dtype=np.float32), flip=False)


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _alternate(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Warm each run once, then ``repeats`` rounds in turn; medians per run."""
    for fn in runs.values():
        fn()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            samples[name].append(_timed(fn))
    return {name: {"wall_s": statistics.median(s[0] for s in vals),
                   "cpu_s": statistics.median(s[1] for s in vals)}
            for name, vals in samples.items()}


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
        with torch.autocast("cpu", dtype=torch.bfloat16):
            test = model.predict(img, [meta], rescale=True)[0]

    def xywh(b: torch.Tensor) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    gt = COCO()
    gt.dataset = {"images": [{"id": 1, "height": meta["ori_shape"][0], "width": meta["ori_shape"][1]}],
                  "categories": [{"id": c + 1} for c in range(model.num_classes)],
                  "annotations": [{"id": i + 1, "image_id": 1, "category_id": int(lab) + 1,
                                   "bbox": xywh(b), "area": xywh(b)[2] * xywh(b)[3], "iscrowd": 0}
                                  for i, (b, lab) in enumerate(zip(ref.boxes, ref.labels))]}
    gt.createIndex()
    dets = [{"image_id": 1, "category_id": int(lab) + 1, "score": float(s), "bbox": xywh(b)}
            for b, s, lab in zip(test.boxes, test.scores, test.labels)]
    evaluator = COCOeval(gt, gt.loadRes(dets), "bbox")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {"bbox_mAP": float(evaluator.stats[0]), "fp32_detections": len(ref),
            "bf16_detections": len(test), "model": "golden tiny Cascade Mask R-CNN, coffee photo"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--objects", type=int, default=8, help="gt objects for the train step")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the torch.compile row (compiling takes minutes on CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    img = torch.randn(1, 3, H, W)
    tv_img = [img[0].clone()]
    ours = _detkit_model("mask_rcnn_r50_fpn").eval()
    ours_cl = _detkit_model("mask_rcnn_r50_fpn", channels_last=True).eval()
    ours_cl.load_state_dict(ours.state_dict())
    cascade = _detkit_model("cascade_mask_rcnn_r50_fpn").eval()
    compiled = None
    if not args.no_compile:
        compiled = _detkit_model("mask_rcnn_r50_fpn", channels_last=True, compiled=True).eval()
        compiled.load_state_dict(ours.state_dict())
        start = time.perf_counter()
        with torch.no_grad():
            compiled.predict(img, [_meta()], rescale=True)
        compile_seconds = time.perf_counter() - start
    theirs = _torchvision_model().eval()
    results: dict[str, Any] = {
        "input": f"{W}x{H}", "threads": args.threads, "repeats": args.repeats,
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_before": os.getloadavg(),
    }

    def infer(model: Any, bf16: bool = False) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model.predict(img, [_meta()], rescale=True)
        return run

    def tv_infer() -> Any:
        with torch.no_grad():
            return theirs(tv_img)

    with torch.no_grad():
        results["detections"] = {"detkit": len(ours.predict(img, [_meta()], rescale=True)[0]),
                                 "torchvision": len(theirs(tv_img)[0]["boxes"])}
    runs = {"detkit_mask_rcnn": infer(ours),
            "detkit_mask_rcnn_channels_last": infer(ours_cl),
            "torchvision_mask_rcnn": tv_infer,
            "detkit_cascade_mask_rcnn": infer(cascade),
            "detkit_mask_rcnn_bf16_channels_last": infer(ours_cl, bf16=True)}
    if compiled is not None:
        runs["detkit_mask_rcnn_compiled_channels_last"] = infer(compiled)
        results["compile_time_s"] = compile_seconds
    timings = _alternate(runs, args.repeats)
    results["inference"] = timings
    tv_wall = timings["torchvision_mask_rcnn"]["wall_s"]
    tv_cpu = timings["torchvision_mask_rcnn"]["cpu_s"]
    for key, name in (("ratio_infer_vs_torchvision", "detkit_mask_rcnn"),
                      ("ratio_infer_channels_last_vs_torchvision", "detkit_mask_rcnn_channels_last"),
                      ("ratio_cascade_infer_vs_torchvision_mask", "detkit_cascade_mask_rcnn"),
                      ("ratio_bf16_infer_vs_torchvision_fp32", "detkit_mask_rcnn_bf16_channels_last"),
                      ("ratio_infer_compiled_vs_torchvision", "detkit_mask_rcnn_compiled_channels_last")):
        if name not in timings:
            continue
        results[key] = timings[name]["wall_s"] / tv_wall
        results[key + "_cpu_time"] = timings[name]["cpu_s"] / tv_cpu
    results["bf16_agreement"] = _bf16_agreement()

    if not args.skip_train:
        boxes, labels, masks = _targets(args.objects)
        ours.train()
        theirs.train()
        _norm_eval(theirs)
        params = [p for p in ours.parameters() if p.requires_grad]
        tv_params = [p for p in theirs.parameters() if p.requires_grad]

        def ours_step() -> None:
            data = dict(img=img, img_metas=[_meta()], gt_bboxes=[boxes], gt_labels=[labels],
                        gt_masks=[masks])
            out = ours.train_step(data, None)
            out["loss"].backward()
            for p in params:
                p.grad = None

        def tv_step() -> None:
            losses = theirs(tv_img, [dict(boxes=boxes, labels=labels + 1, masks=masks)])
            sum(losses.values()).backward()
            for p in tv_params:
                p.grad = None

        train = _alternate({"detkit_mask_rcnn": ours_step, "torchvision_mask_rcnn": tv_step},
                           args.repeats)
        results["train_step"] = train
        results["ratio_train_vs_torchvision"] = (train["detkit_mask_rcnn"]["wall_s"]
                                                 / train["torchvision_mask_rcnn"]["wall_s"])
        results["ratio_train_vs_torchvision_cpu_time"] = (train["detkit_mask_rcnn"]["cpu_s"]
                                                          / train["torchvision_mask_rcnn"]["cpu_s"])
    results["load_average_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
