"""AugFPN ablation as a papermill sweep of nb04: each variant switches only the AugFPN parts,
every variant runs with several seeds, and the table gives bbox/segm mAP as mean ± std.

    python bench/ablation.py [--variants FPN RFA RFA+SRS RFA+CS RFA+SRS+CS] [--seeds 0 1 2]
                             [--epochs 1] [--times 4] [--img-scale 512 256]
                             [--data-root data/cityscapes_sample] [--out-dir work_dirs/ablation]
                             [--cfg-options '{"optimizer.lr": 0.01}'] [--retry-failed] [--out
                             ablation.json]

Every run is nb04 (``nbs/04_train_and_evaluate.ipynb``) on the CPU-sized demo of the seed
config (configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py) with
the neck (``FPN`` / ``AugFPN`` = RFA), the RoI extractors (``SingleRoIExtractor`` /
``SoftRoIExtractor`` = SRS) and the RoI head (``CascadeRoIHead`` / ``AugFPNCascadeRoIHead`` = CS)
switched by ``cfg_options``; all runs of a seed share data order and schedule. The sweep folder
keeps each run's executed notebook and work dir; running the command again skips the finished
runs (resume after a kill). The synthetic Cityscapes-format sample (``make data``) is generated
when missing. Numbers are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import detkit

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "nbs" / "04_train_and_evaluate.ipynb"
DEMO_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
METRICS = ("bbox_mAP", "segm_mAP")

# variant -> (neck type, RoI extractor type, RoI head type)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "FPN": ("FPN", "SingleRoIExtractor", "CascadeRoIHead"),
    "RFA": ("AugFPN", "SingleRoIExtractor", "CascadeRoIHead"),
    "RFA+SRS": ("AugFPN", "SoftRoIExtractor", "CascadeRoIHead"),
    "RFA+CS": ("AugFPN", "SingleRoIExtractor", "AugFPNCascadeRoIHead"),
    "RFA+SRS+CS": ("AugFPN", "SoftRoIExtractor", "AugFPNCascadeRoIHead"),
}


def variant_options(name: str) -> dict[str, str]:
    """The ``cfg_options`` that turn the demo config into variant ``name``."""
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}")
    neck, extractor, head = VARIANTS[name]
    return {
        "model.neck.type": neck,
        "model.roi_head.type": head,
        "model.roi_head.bbox_roi_extractor.type": extractor,
        "model.roi_head.mask_roi_extractor.type": extractor,
    }


def ablation_grid(
    variants: list[str],
    seeds: list[int],
    data_root: str,
    epochs: int,
    times: int,
    img_scale: tuple[int, int],
    cfg_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sweep grid (``detkit.experiments.sweep``) of nb04 runs: one setting per variant, one
    run per seed."""
    return {
        "fixed": {
            "config": DEMO_CONFIG,
            "data_root": data_root,
            "max_epochs": epochs,
            "times": times,
            "img_scale": list(img_scale),
            "device": "cpu",
        },
        "variants": {
            name: {"cfg_options": {**(cfg_options or {}), **variant_options(name)}}
            for name in variants
        },
        "seeds": list(seeds),
    }


def ensure_sample(data_root: str) -> None:
    """Generate and convert the synthetic sample (as ``make data``) if it is missing."""
    if Path(data_root, "annotations", "instancesonly_filtered_gtFine_val.json").exists():
        return
    detkit.generate_cityscapes_sample(data_root, train=60, val=20, test=0, size=(512, 256), seed=0)
    detkit.convert_cityscapes(
        data_root,
        out_dir=os.path.join(data_root, "annotations"),
        splits=("train", "val"),
        show_progress=False,
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--times", type=int, default=4, help="RepeatDataset passes per epoch")
    parser.add_argument(
        "--img-scale", nargs=2, type=int, default=[512, 256], metavar=("LONG", "SHORT")
    )
    parser.add_argument("--data-root", default=str(ROOT / "data" / "cityscapes_sample"))
    parser.add_argument(
        "--out-dir", default=str(ROOT / "work_dirs" / "ablation"), help="the sweep folder"
    )
    parser.add_argument(
        "--cfg-options", type=json.loads, default={}, help="more overrides for every run (JSON)"
    )
    parser.add_argument("--kernel", default="detkit")
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again the runs recorded as failed"
    )
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args(argv)
    if len(args.seeds) < 3:
        print(f"warning: {len(args.seeds)} seed(s); a std over fewer than 3 seeds says little")
    ensure_sample(args.data_root)
    grid = ablation_grid(
        args.variants,
        args.seeds,
        args.data_root,
        args.epochs,
        args.times,
        tuple(args.img_scale),
        args.cfg_options,
    )
    rows = detkit.experiments.sweep(
        NOTEBOOK,
        grid,
        args.out_dir,
        metrics=METRICS,
        kernel_name=args.kernel,
        cwd=ROOT,
        retry_failed=args.retry_failed,
        log=lambda line: print(line, flush=True),
    )
    print(f"\n{'variant':<12}{'seeds':>6}{'bbox mAP':>18}{'segm mAP':>18}")
    for row in rows:
        cells = [
            "—"
            if row[m + "_mean"] is None
            else f"{row[m + '_mean']:.3f}"
            if row[m + "_std"] is None
            else f"{row[m + '_mean']:.3f} ± {row[m + '_std']:.3f}"
            for m in METRICS
        ]
        print(f"{row['setting']:<12}{row['done']:>6}{cells[0]:>18}{cells[1]:>18}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                dict(
                    epochs=args.epochs,
                    times=args.times,
                    img_scale=args.img_scale,
                    seeds=args.seeds,
                    cfg_options=args.cfg_options,
                    rows=rows,
                    sweep=args.out_dir,
                ),
                f,
                indent=1,
            )
    return rows


if __name__ == "__main__":
    main()
