"""COCO bbox + segm evaluation time: pycocotools (the reference) vs faster-coco-eval, on a
generated Cityscapes-val-sized set, and the largest metric difference between them.

Usage: python bench/eval.py [--images 500] [--instances 20] [--size 2048x1024] [--repeats 1]
                            [--out FILE.json]

The set (seeded, made here, nothing downloaded): ``--images`` images of ``--size`` pixels with
``--instances`` ground-truth instances each on average (8 Cityscapes classes; random polygons
of 20-400 px across, at most half the height, stored as RLE masks like the Cityscapes
converter's), and per image the detections a detector would give: each instance found with
probability 0.85, its outline jittered (vertices and position), plus false positives; every
mask an RLE. Timed per backend: ``evaluate_coco(..., ['bbox', 'segm'])`` as the test tools run
it (result json written and read, ``COCOeval`` evaluate/accumulate/summarize); the conversion
alone (``results2json``: boxes to xywh, RLE counts to text, json; part of both) is timed too.
On a shared machine the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from detkit.evaluation.coco import evaluate_coco
from detkit.evaluation.coco_format import results2json
from detkit.ops.cpu import probe_cpu

CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


def _polygon(rng: np.random.Generator, cx: float, cy: float, radius: float) -> list[float]:
    """A star-shaped polygon of 12 vertices around ``(cx, cy)``, flattened ``[x0, y0, ...]``."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = radius * rng.uniform(0.6, 1.0, 12)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).ravel().tolist()


def _rle(polygon: list[float], height: int, width: int) -> dict[str, Any]:
    return mask_util.merge(mask_util.frPyObjects([polygon], height, width))


def make_set(
    images: int, instances: int, height: int, width: int, seed: int = 0
) -> tuple[dict[str, Any], list[Any]]:
    """(COCO ground truth dict, MMDetection v2 results: one ``(bboxes, segms)`` per image)."""
    rng = np.random.default_rng(seed)
    gt: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)],
    }
    results = []
    for img_id in range(1, images + 1):
        gt["images"].append(
            {"id": img_id, "file_name": f"{img_id}.png", "height": height, "width": width}
        )
        bboxes: list[list[list[float]]] = [[] for _ in CLASSES]
        segms: list[list[dict[str, Any]]] = [[] for _ in CLASSES]
        for _ in range(rng.poisson(instances)):
            label = int(rng.integers(len(CLASSES)))
            radius = float(np.exp(rng.uniform(np.log(10), np.log(min(200, height / 4)))))
            cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
            outline = _polygon(rng, cx, cy, radius)
            rle = _rle(outline, height, width)
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": img_id,
                    "category_id": label + 1,
                    "bbox": mask_util.toBbox(rle).tolist(),
                    "area": float(mask_util.area(rle)),
                    "iscrowd": 0,
                    "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                }
            )
            if rng.random() < 0.85:  # found, with a jittered outline
                noise = rng.normal(0, 0.05 * radius, len(outline)) + np.tile(
                    rng.normal(0, 0.05 * radius, 2), len(outline) // 2
                )
                det_label = label if rng.random() < 0.95 else int(rng.integers(len(CLASSES)))
                det = _rle((np.asarray(outline) + noise).tolist(), height, width)
                _add(bboxes, segms, det_label, det, float(rng.uniform(0.3, 1.0)))
        for _ in range(rng.poisson(instances * 0.2)):  # false positives
            radius = float(np.exp(rng.uniform(np.log(10), np.log(min(100, height / 4)))))
            cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
            det = _rle(_polygon(rng, cx, cy, radius), height, width)
            _add(bboxes, segms, int(rng.integers(len(CLASSES))), det, float(rng.uniform(0, 0.6)))
        results.append(([np.asarray(b, np.float32).reshape(-1, 5) for b in bboxes], segms))
    return gt, results


def _add(
    bboxes: list[list[list[float]]],
    segms: list[list[dict[str, Any]]],
    label: int,
    rle: dict[str, Any],
    score: float,
) -> None:
    x, y, w, h = mask_util.toBbox(rle).tolist()
    bboxes[label].append([x, y, x + w, y + h, score])
    segms[label].append(rle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--size", default="2048x1024", help="WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    start = time.perf_counter()
    gt, results = make_set(args.images, args.instances, height, width)
    made_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = str(Path(tmp) / "gt.json")
        Path(ann_file).write_text(json.dumps(gt))
        img_ids = [image["id"] for image in gt["images"]]
        cat_ids = [cat["id"] for cat in gt["categories"]]
        times: dict[str, list[float]] = {"pycocotools": [], "faster_coco_eval": [], "convert": []}
        metrics: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            results2json(results, img_ids, cat_ids, str(Path(tmp) / "conv"))
            times["convert"].append(time.perf_counter() - start)
            for backend in ("pycocotools", "faster_coco_eval"):
                start = time.perf_counter()
                metrics[backend] = evaluate_coco(
                    results,
                    ann_file,
                    ["bbox", "segm"],
                    cat_ids=cat_ids,
                    img_ids=img_ids,
                    logger="silent",
                    backend=backend,
                )
                times[backend].append(time.perf_counter() - start)
    numeric = [k for k, v in metrics["pycocotools"].items() if isinstance(v, float)]
    diff = max(abs(metrics["pycocotools"][k] - metrics["faster_coco_eval"][k]) for k in numeric)
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu = probe_cpu().summary()
    instances = len(gt["annotations"])
    detections = sum(len(b) for r in results for b in r[0])
    print(f"CPU: {cpu}")
    print(
        f"set: {args.images} images {width}x{height}, {instances} instances, {detections} "
        f"detections (made in {made_s:.1f} s)"
    )
    print(f"{'bbox + segm evaluation':32} {'s':>8}")
    print(f"{'pycocotools':32} {medians['pycocotools']:8.2f}")
    print(f"{'faster_coco_eval':32} {medians['faster_coco_eval']:8.2f}")
    print(f"{'  of which results2json':32} {medians['convert']:8.2f}")
    speedup = medians["pycocotools"] / medians["faster_coco_eval"]
    print(f"speed-up: {speedup:.2f}x | max metric difference: {diff:.1e} over {len(numeric)}")
    print("pycocotools:      " + metrics["pycocotools"]["segm_mAP_copypaste"])
    print("faster_coco_eval: " + metrics["faster_coco_eval"]["segm_mAP_copypaste"])
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "cpu": cpu,
                    "images": args.images,
                    "size": [width, height],
                    "instances": instances,
                    "detections": detections,
                    "seconds": medians,
                    "speedup": speedup,
                    "max_metric_diff": diff,
                    "metrics": metrics,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
