"""Samples/s of the seed's train pipeline on 2048x1024 Cityscapes-format samples (~20 instances).

Usage: python bench/pipeline.py [--out FILE.json] [--images 6] [--rounds 3] [--batch 4]
                                [--instances 24] [--profile] [--skip-rows]

Generates the samples with detkit's synthetic generator and converter into a temporary
directory, then measures, in this one process:

- ``cpu``: the per-sample path, ``dataset[i]`` with the seed config's ``train_pipeline``
  (loading, AutoAugment, Resize, RandomFlip, Normalize, Pad, DefaultFormatBundle, Collect),
  1 torch thread, 1 OpenCV thread;
- ``batched-<device>``: loading per sample on the CPU (LoadImageFromFile + LoadAnnotations),
  then AutoAugment/Resize/RandomFlip/Normalize/Pad on a batch on the device available
  (CUDA if present, else CPU tensors).

- the rows of bench/pipeline_rows.py, end to end, detkit beside MMDetection v2.28's logic
  (re-stated in tests/transforms/mmdet_reference_*.py) in alternating order, outputs checked
  equal: the seed pipeline, seed + PhotoMetricDistortion + RandomCrop, and that + CopyPaste
  (``--skip-rows``: the seed row only).

The ``x mmdet`` columns divide by the mmdet seed row of the same run; the target is >= 2x on
every row. Both wall-clock and process-CPU-time rates are reported: on a shared machine the
wall clock includes time other processes hold the cores. ``--profile`` prints the cProfile top
functions (by own time) of the CPU path.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

import detkit
from detkit.data import build_dataset, convert_cityscapes, generate_cityscapes_sample
from detkit.data.transforms.batched import BatchedInstances
from detkit.data.transforms.batched_train import batched_train_transforms, draw_train
from detkit.registry import PIPELINES, build

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_rows import ROWS, time_rows  # noqa: E402

SEED_CONFIG = (
    Path(__file__).resolve().parents[1]
    / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
)


def make_dataset(root: Path, images: int, instances: int, pipeline: list[dict]) -> Any:
    generate_cityscapes_sample(
        root, train=images, val=0, size=(2048, 1024), seed=0, instances=(instances, instances)
    )
    convert_cityscapes(root, out_dir=root / "annotations", splits=("train",), show_progress=False)
    return build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(root / "annotations/instancesonly_filtered_gtFine_train.json"),
            img_prefix=str(root / "leftImg8bit/train/"),
            pipeline=pipeline,
        )
    )


def _rates(count: int, wall_start: float, cpu_start: float) -> dict[str, float]:
    """samples/s of wall-clock time and of this process's CPU time (the latter is what one
    dedicated core would give on a shared machine)."""
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    return dict(
        samples=count,
        samples_per_s=count / wall,
        samples_per_cpu_s=count / cpu,
        wall_s=wall,
        cpu_s=cpu,
    )


def time_cpu(dataset: Any, rounds: int) -> dict[str, float]:
    dataset[0]  # warm-up
    np.random.seed(0)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    count = 0
    for _ in range(rounds):
        for i in range(len(dataset)):
            dataset[i]
            count += 1
    return _rates(count, wall_start, cpu_start)


def time_batched(
    dataset: Any, pipeline_cfg: list[dict], rounds: int, batch: int, device: torch.device
) -> dict[str, float]:
    load = [build(pipeline_cfg[0], PIPELINES), build(pipeline_cfg[1], PIPELINES)]
    aug, resize, flip, normalize, pad = (build(c, PIPELINES) for c in pipeline_cfg[2:7])

    def run(indices: list[int]) -> None:
        loaded = []
        for idx in indices:
            results = {"img_info": dataset.data_infos[idx], "ann_info": dataset.get_ann_info(idx)}
            dataset.pre_pipeline(results)
            for t in load:
                results = t(results)
            loaded.append(results)
        pad_h = max(r["img"].shape[0] for r in loaded)
        pad_w = max(r["img"].shape[1] for r in loaded)
        images = torch.zeros((len(loaded), 3, pad_h, pad_w), dtype=torch.uint8, device=device)
        boxes, labels, masks = [], [], []
        for i, r in enumerate(loaded):
            h, w = r["img"].shape[:2]
            images[i, :, :h, :w] = (
                torch.from_numpy(r["img"]).to(device, non_blocking=True).permute(2, 0, 1)
            )
            m = torch.zeros((len(r["gt_masks"]), pad_h, pad_w), dtype=torch.uint8, device=device)
            m[:, :h, :w] = torch.from_numpy(r["gt_masks"].masks).to(device)
            masks.append(m)
            boxes.append(torch.from_numpy(r["gt_bboxes"]).to(device))
            labels.append(torch.from_numpy(r["gt_labels"]).to(device))
        draws = draw_train(aug, resize, flip, len(loaded))
        batched_train_transforms(
            images,
            [r["img"].shape[:2] for r in loaded],
            BatchedInstances(boxes, labels, masks),
            draws,
            resize,
            normalize,
            pad,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()

    n = len(dataset)
    run(list(range(min(batch, n))))  # warm-up
    np.random.seed(0)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    count = 0
    for _ in range(rounds):
        for first in range(0, n, batch):
            indices = list(range(first, min(first + batch, n)))
            run(indices)
            count += len(indices)
    return _rates(count, wall_start, cpu_start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--images", type=int, default=6, help="generated 2048x1024 images")
    parser.add_argument(
        "--instances", type=int, default=24, help="objects drawn per image (~20 survive)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images per path")
    parser.add_argument("--batch", type=int, default=4, help="batch size of the batched path")
    parser.add_argument(
        "--profile", action="store_true", help="print the CPU path's cProfile top 20"
    )
    parser.add_argument(
        "--skip-rows", action="store_true", help="end-to-end rows: the seed row only"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cfg = detkit.Config.fromfile(str(SEED_CONFIG))
    pipeline_cfg = [dict(c) for c in cfg.train_pipeline]
    with tempfile.TemporaryDirectory(prefix="detkit_bench_") as tmp:
        dataset = make_dataset(Path(tmp) / "cityscapes", args.images, args.instances, pipeline_cfg)
        per_image = [len(dataset.get_ann_info(i)["bboxes"]) for i in range(len(dataset))]
        rows: dict[str, Any] = {}
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        rows["cpu"] = time_cpu(dataset, args.rounds)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        rows[f"batched-{device.type}"] = dict(
            time_batched(dataset, pipeline_cfg, args.rounds, args.batch, device), batch=args.batch
        )
        end_to_end = time_rows(
            dataset, pipeline_cfg, args.rounds, ROWS[:1] if args.skip_rows else ROWS
        )
    mmdet_wall = end_to_end["seed"]["mmdet_samples_per_s"]
    mmdet_cpu = end_to_end["seed"]["mmdet_samples_per_cpu_s"]
    report = dict(
        images=args.images,
        image_size=[2048, 1024],
        instances_per_image=float(np.mean(per_image)),
        mmdet_v2_seed_samples_per_s=mmdet_wall,
        mmdet_v2_seed_samples_per_cpu_s=mmdet_cpu,
        torch_threads=1,
        opencv_threads=1,
        device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        paths=rows,
        rows=end_to_end,
    )
    print(f"seed train pipeline, 2048x1024, {report['instances_per_image']:.1f} instances/image")
    print(f"{'path':<16}{'samples/s':>11}{'/cpu-s':>9}{'x mmdet (wall)':>16}{'x mmdet (cpu)':>15}")
    for name, row in rows.items():
        print(
            f"{name:<16}{row['samples_per_s']:>11.2f}{row['samples_per_cpu_s']:>9.2f}"
            f"{row['samples_per_s'] / mmdet_wall:>16.2f}"
            f"{row['samples_per_cpu_s'] / mmdet_cpu:>15.2f}"
        )
    print(
        f"\n{'end to end, same run (cpu-s rates)':<40}{'detkit/s':>9}{'mmdet/s':>9}{'x mmdet':>9}"
        f"{'ms detkit':>11}{'ms mmdet':>10}{'x (wall)':>10}"
    )
    for name, row in end_to_end.items():
        print(
            f"{name:<40}{row['detkit_samples_per_cpu_s']:>9.2f}{row['mmdet_samples_per_cpu_s']:>9.2f}"
            f"{row['speedup_cpu']:>9.2f}{row['detkit_ms']:>11.1f}{row['mmdet_ms']:>10.1f}"
            f"{row['speedup_wall']:>10.2f}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
