"""Exported Mask R-CNN R50-FPN on ONNX Runtime (CPU) vs detkit eager (fp32, bf16) vs
torchvision's Mask R-CNN, on one 1024x512 input, in one run.

Usage: python bench/deploy.py [--out FILE.json] [--threads 2] [--repeats 3]
                              [--model mask_rcnn_r50_fpn] [--work-dir work_dirs/bench_deploy]

Weights as in ``bench/model.py``: torchvision's random init (seed 0, no download) in both
Mask R-CNNs, copied into detkit's under MMDetection's key names; score threshold 0, so each
keeps 100 detections and runs its mask head on 100 RoIs. detkit's model is exported with
``detkit.export`` at the fixed 512x1024 size (and, for the export-time and file-size rows,
also with dynamic height and width) and run by ``detkit.deploy.OnnxDetector`` with
``intra_op_num_threads = --threads``; every row includes pasting the masks onto the image.
Runs alternate (``bench/timing.py``); medians of wall-clock and process CPU time.
``agreement``: ``detkit.deploy.compare_results`` of the ORT and eager fp32 detections (pairs
by class and nearest box: with random weights the 80 class scores are near-equal, so rows of
near-equal score may come in either order). ``ort_op_seconds``: ONNX Runtime's own profile of
one run, summed per operator type.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime
import torch
import torchvision
from model import H, W, _meta, _torchvision_model, _torchvision_to_mmdet_keys  # bench/model.py
from timing import alternate  # bench/timing.py

import detkit

ROOT = Path(__file__).resolve().parents[1]


def _detkit_model(
    name: str, weights: dict[str, torch.Tensor], channels_last: bool = False
) -> torch.nn.Module:
    """detkit's model from its base config (score threshold 0) holding ``weights`` where its
    keys exist, with ``cfg`` set (the export stores it)."""
    cfg = detkit.Config.fromfile(str(ROOT / "configs" / "_base_" / "models" / f"{name}.py"))
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.model.channels_last = channels_last
    torch.manual_seed(0)
    model = detkit.build_detector(cfg.model)
    state = model.state_dict()
    model.load_state_dict({k: v for k, v in weights.items() if k in state}, strict=False)
    model.cfg = cfg
    model.CLASSES = None
    return model.eval()


def _ort_profile(path: str, detector: Any, img: torch.Tensor, threads: int) -> dict[str, float]:
    """Seconds per ONNX operator type in one profiled run (ONNX Runtime's profiler)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(path).with_suffix(""))
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inputs = dict(
        zip(("img", "img_shape", "scale_factor"), detkit.deploy.graph_inputs(img, [_meta()], True))
    )
    session.run(None, inputs)  # warm-up
    session.run(None, inputs)
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    runs = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    for event in runs[len(runs) // 2 :]:  # the second run
        op = event["args"].get("op_name", "?")
        per_op[op] = per_op.get(op, 0.0) + event["dur"] / 1e6
    return dict(sorted(per_op.items(), key=lambda kv: -kv[1])[:8])


def _print_table(results: dict[str, Any]) -> None:
    print(f"{'run':40} {'wall s':>7} {'CPU s':>7}")
    for name, t in results["inference"].items():
        print(f"{name:40} {t['wall_s']:7.2f} {t['cpu_s']:7.2f}")
    print()
    for key, value in results.items():
        if key.startswith("ratio_") and not key.endswith("_cpu_time"):
            print(f"{key:44} {value:5.2f} (CPU time {results[key + '_cpu_time']:.2f})")
    for name, info in results["export"].items():
        print(f"export {name:18} {info['seconds']:6.1f} s {info['bytes'] / 2**20:7.1f} MiB")
    print("ORT vs eager fp32:", results["agreement"])
    print(
        "ORT seconds per operator type:",
        {k: round(v, 3) for k, v in results["ort_op_seconds"].items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model",
        default="mask_rcnn_r50_fpn",
        help="a configs/_base_/models config (mask_rcnn_r50_fpn, cascade_mask_rcnn_r50_fpn)",
    )
    parser.add_argument("--work-dir", default=str(ROOT / "work_dirs" / "bench_deploy"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    img = torch.randn(1, 3, H, W)
    theirs = _torchvision_model()
    weights = _torchvision_to_mmdet_keys(theirs.state_dict())
    ours = _detkit_model(args.model, weights)
    ours_cl = _detkit_model(args.model, weights, channels_last=True)
    results: dict[str, Any] = {
        "input": f"{W}x{H}",
        "threads": args.threads,
        "repeats": args.repeats,
        "model": args.model,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": onnxruntime.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_before": os.getloadavg(),
    }
    fixed = str(work / f"{args.model}_{H}x{W}.onnx")
    results["export"] = {
        "onnx_fixed": detkit.export(ours, out=fixed, shape=(H, W)),
        "onnx_dynamic": detkit.export(ours, out=str(work / f"{args.model}_dynamic.onnx")),
        "exported_program": detkit.export(
            ours, out=str(work / f"{args.model}.pt2"), format="exported-program"
        ),
    }
    ort = detkit.deploy.OnnxDetector(
        fixed, providers=["CPUExecutionProvider"], num_threads=args.threads
    )

    def infer(model: Any, bf16: bool = False) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model.predict(img, [_meta()], rescale=True)

        return run

    def tv_infer() -> Any:
        with torch.no_grad():
            return theirs([img[0]])

    num_classes = ours.num_classes
    results["agreement"] = detkit.deploy.compare_results(
        infer(ours)()[0].to_mmdet(num_classes), infer(ort)()[0].to_mmdet(num_classes)
    )
    results["inference"] = alternate(
        {
            "torchvision_mask_rcnn": tv_infer,
            f"detkit_{args.model}": infer(ours),
            f"detkit_{args.model}_bf16_channels_last": infer(ours_cl, bf16=True),
            f"onnxruntime_{args.model}": infer(ort),
        },
        args.repeats,
    )
    table = results["inference"]
    ratios = {
        "ratio_ort_vs_detkit_fp32": (f"onnxruntime_{args.model}", f"detkit_{args.model}"),
        "ratio_ort_vs_detkit_bf16": (
            f"onnxruntime_{args.model}",
            f"detkit_{args.model}_bf16_channels_last",
        ),
        "ratio_ort_vs_torchvision": (f"onnxruntime_{args.model}", "torchvision_mask_rcnn"),
        "ratio_detkit_fp32_vs_torchvision": (f"detkit_{args.model}", "torchvision_mask_rcnn"),
    }
    for key, (a, b) in ratios.items():
        results[key] = table[a]["wall_s"] / table[b]["wall_s"]
        results[key + "_cpu_time"] = table[a]["cpu_s"] / table[b]["cpu_s"]
    results["ort_op_seconds"] = _ort_profile(fixed, ort, img, args.threads)
    results["load_average_after"] = os.getloadavg()
    _print_table(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
