"""Peak memory of inference (and drawing) on one huge image, as ``tools/infer.py`` runs it.

    python bench/huge_image.py [--size 10000] [--max-per-img 100] [--device cpu] [--no-draw]
                               [--out huge_image.json]

The seed demo config (random weights, ``score_thr=0`` so that ``max_per_img`` detections with
full-image masks are kept, the worst case) runs ``inference_detector`` on a ``size x size`` JPEG
and then ``show_result`` draws it. The process's peak resident set size (``ru_maxrss``, a
high-water mark) is printed after each phase and written to the JSON file. Run it on a machine
with enough RAM: the point is to measure how far past 8 GB a 10000x10000 image goes.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import detkit

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"


def peak_rss_mib() -> float:
    """High-water resident set size of this process in MiB (Linux reports KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="image width = height in pixels")
    parser.add_argument("--max-per-img", type=int, default=100, help="detections kept (model.test_cfg.rcnn)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-draw", action="store_true", help="skip show_result")
    parser.add_argument("--out", default="huge_image.json")
    args = parser.parse_args(argv)

    phases: list[tuple[str, float, float]] = []
    start = time.perf_counter()

    def mark(name: str) -> None:
        phases.append((name, time.perf_counter() - start, peak_rss_mib()))
        print(f"{name:<28} {phases[-1][1]:8.1f} s   peak RSS {phases[-1][2]:9.0f} MiB", flush=True)

    model = detkit.init_detector(str(DEMO_CONFIG), device=args.device, cfg_options={
        "model.test_cfg.rcnn.score_thr": 0.0, "model.test_cfg.rcnn.max_per_img": args.max_per_img})
    mark("model built")
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "huge.jpg")
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 255, (500, 500, 3), dtype=np.uint8)
        Image.fromarray(np.tile(tile, (args.size // 500 + 1, args.size // 500 + 1, 1))[: args.size, : args.size]).save(
            image_path, quality=90)
        mark("image written")
        result = detkit.inference_detector(model, image_path)
        num = sum(len(b) for b in (result[0] if isinstance(result, tuple) else result))
        mark(f"inference ({num} detections)")
        if not args.no_draw:
            detkit.show_result(image_path, result, model.CLASSES, score_thr=0.0, out_file=str(Path(tmp) / "drawn.jpg"))
            mark("drawn")
    report = {"size": args.size, "max_per_img": args.max_per_img, "device": args.device,
              "phases": [{"phase": n, "seconds": round(t, 2), "peak_rss_mib": round(m)} for n, t, m in phases]}
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
