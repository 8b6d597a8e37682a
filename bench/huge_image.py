"""Peak memory of inference (and drawing) on one huge image, as ``tools/infer.py`` runs it.

    python bench/huge_image.py [--size 10000] [--max-per-img 100] [--device cpu] [--no-draw]
                               [--seed 0] [--out huge_image.json]

The seed demo config (random weights, ``score_thr=0`` so that ``max_per_img`` detections are
kept, the worst case) runs ``inference_detector`` on a ``size x size`` JPEG, ``show_result``
draws it (as ``tools/infer.py`` does) and the masks are encoded to COCO RLE JSON entries (as
``tools/test.py --format-only`` writes them). The process's peak resident set size
(``ru_maxrss``, a high-water mark) is printed after each phase and written to the JSON file,
with the largest mask box (share of the image) and the bytes the result holds for its masks.
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
import torch
from PIL import Image

import detkit
from detkit.evaluation.coco_format import segm2json
from detkit.structures.roi_masks import RoIMasks

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = (
    ROOT / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
)


def peak_rss_mib() -> float:
    """High-water resident set size of this process in MiB (Linux reports KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000, help="image width = height in pixels")
    parser.add_argument(
        "--max-per-img", type=int, default=100, help="detections kept (model.test_cfg.rcnn)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-draw", action="store_true", help="skip show_result")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    parser.add_argument("--out", default="huge_image.json")
    args = parser.parse_args(argv)

    phases: list[tuple[str, float, float]] = []
    start = time.perf_counter()

    def mark(name: str) -> None:
        phases.append((name, time.perf_counter() - start, peak_rss_mib()))
        print(f"{name:<28} {phases[-1][1]:8.1f} s   peak RSS {phases[-1][2]:9.0f} MiB", flush=True)

    torch.manual_seed(args.seed)  # the random weights decide the detections' boxes
    model = detkit.init_detector(
        str(DEMO_CONFIG),
        device=args.device,
        cfg_options={
            "model.test_cfg.rcnn.score_thr": 0.0,
            "model.test_cfg.rcnn.max_per_img": args.max_per_img,
        },
    )
    mark("model built")
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "huge.jpg")
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 255, (500, 500, 3), dtype=np.uint8)
        Image.fromarray(
            np.tile(tile, (args.size // 500 + 1, args.size // 500 + 1, 1))[: args.size, : args.size]
        ).save(image_path, quality=90)
        mark("image written")
        result = detkit.inference_detector(model, image_path)
        typed = detkit.DetectionResult.from_mmdet(result)
        num = len(typed)
        mark(f"inference ({num} detections)")
        if not args.no_draw:
            detkit.show_result(
                image_path,
                result,
                model.CLASSES,
                score_thr=0.0,
                out_file=str(Path(tmp) / "drawn.jpg"),
            )
            mark("drawn")
        cat_ids = list(range(1, len(model.CLASSES) + 1))
        _, segm_entries = segm2json([result], [1], cat_ids)
        Path(tmp, "segm.json").write_text(json.dumps(segm_entries))
        mark(f"json ({len(segm_entries)} RLE masks)")
    areas = (typed.boxes[:, 2:] - typed.boxes[:, :2]).clamp(min=0).prod(1) / args.size**2
    mask_bytes = (
        typed.masks.probs.numel() * typed.masks.probs.element_size()
        if isinstance(typed.masks, RoIMasks)
        else (typed.masks.numel() if typed.masks is not None else 0)
    )
    print(
        f"largest box {float(areas.max()) if num else 0:.0%} of the image, "
        f"{float(areas.sum()) if num else 0:.1f} images of box area in all; "
        f"masks held: {mask_bytes / 2**20:.2f} MiB",
        flush=True,
    )
    report = {
        "size": args.size,
        "max_per_img": args.max_per_img,
        "device": args.device,
        "seed": args.seed,
        "detections": num,
        "largest_box_share": round(float(areas.max()) if num else 0.0, 3),
        "box_area_images": round(float(areas.sum()) if num else 0.0, 2),
        "mask_bytes_held": int(mask_bytes),
        "phases": [
            {"phase": n, "seconds": round(t, 2), "peak_rss_mib": round(m)} for n, t, m in phases
        ],
    }
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
