"""Benchmark the Cityscapes -> COCO converter on 2048x1024 images with ~20 instances each.

    python bench/convert.py [--images 24] [--out bench_convert.json]

Generates a Cityscapes-format tree (detkit.data.synthetic), then times converting it with
detkit's single-pass converter with 1 and 2 processes, and with MMDetection v2's per-instance
algorithm (transcribed in tests/data/mmdet_reference_converter.py) in 1 process. Process-pool
start-up and the first (warm-up) image are excluded; outputs are checked to be identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

from detkit.data.convert.cityscapes import collect_files, cvt_annotations, load_img_info
from detkit.data.synthetic import generate_cityscapes_sample

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "mmdet_reference_converter.py"


def _reference_module():
    spec = importlib.util.spec_from_file_location("mmdet_reference_converter", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mmdet_load(files) -> dict:
    return _reference_module().load_img_info((files.img_file, files.inst_file, files.segm_file))


def _time(fn, files, nproc: int, repeats: int) -> tuple[float, list[dict]]:
    """Best images/s over ``repeats`` runs, pool started and warmed up before timing."""
    best, infos = 0.0, []
    if nproc == 1:
        fn(files[0])
        for _ in range(repeats):
            start = time.perf_counter()
            infos = [fn(f) for f in files]
            best = max(best, len(files) / (time.perf_counter() - start))
        return best, infos
    with multiprocessing.Pool(nproc) as pool:
        pool.map(fn, files[:nproc])  # start-up and imports
        for _ in range(repeats):
            start = time.perf_counter()
            infos = pool.map(fn, files, chunksize=max(1, len(files) // (nproc * 4)))
            best = max(best, len(files) / (time.perf_counter() - start))
    return best, infos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24, help="number of 2048x1024 images")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        generate_cityscapes_sample(
            root, train=args.images, val=0, size=(2048, 1024), seed=0, instances=(24, 24)
        )
        generated = time.perf_counter() - start
        files = collect_files(root / "leftImg8bit" / "train", root / "gtFine" / "train")
        rows = []
        outputs = {}
        for name, fn, nproc in (
            ("mmdet v2 (per-instance)", _mmdet_load, 1),
            ("detkit (single pass)", load_img_info, 1),
            ("detkit (single pass)", load_img_info, 2),
        ):
            speed, infos = _time(fn, files, nproc, args.repeats)
            outputs[(name, nproc)] = json.loads(json.dumps(cvt_annotations(infos)))
            rows.append({"converter": name, "processes": nproc, "images_per_s": round(speed, 2)})
        reference = outputs[("mmdet v2 (per-instance)", 1)]
        identical = all(out == reference for out in outputs.values())
        instances = len(reference.get("annotations", []))
    base = rows[0]["images_per_s"]
    print(
        f"{args.images} images 2048x1024, {instances / args.images:.1f} evaluated instances/image "
        f"(generated in {generated:.1f}s); outputs identical: {identical}"
    )
    print(f"{'converter':<26}{'procs':>6}{'images/s':>10}{'vs mmdet':>10}")
    for row in rows:
        print(
            f"{row['converter']:<26}{row['processes']:>6}{row['images_per_s']:>10.2f}"
            f"{row['images_per_s'] / base:>9.1f}x"
        )
    if args.out:
        report = {
            "images": args.images,
            "size": [2048, 1024],
            "instances_per_image": instances / args.images,
            "identical_outputs": identical,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "results": rows,
        }
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    if not identical:
        raise SystemExit("converter outputs differ from the mmdet reference")


if __name__ == "__main__":
    main()
