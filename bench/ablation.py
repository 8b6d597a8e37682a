"""AugFPN ablation: train FPN and AugFPN variants with an equal budget, print bbox/segm mAP.

    python bench/ablation.py [--epochs 1] [--times 4] [--variants FPN RFA RFA+SRS RFA+SRS+CS]
                             [--data-root data/cityscapes_sample] [--out ablation.json]

Every variant is the CPU-sized demo of the seed config
(configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py) with only the
AugFPN parts switched: the neck (``FPN`` / ``AugFPN`` = RFA), the RoI extractors
(``SingleRoIExtractor`` / ``SoftRoIExtractor`` = SRS) and the RoI head
(``CascadeRoIHead`` / ``AugFPNCascadeRoIHead`` = CS). All variants use the same seed, data
order, epochs and schedule. The synthetic Cityscapes-format sample (``make data``) is generated
when missing. Numbers are reported, not asserted: with a budget this small they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import detkit

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"

# variant -> (neck type, RoI extractor type, RoI head type)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "FPN": ("FPN", "SingleRoIExtractor", "CascadeRoIHead"),
    "RFA": ("AugFPN", "SingleRoIExtractor", "CascadeRoIHead"),
    "RFA+SRS": ("AugFPN", "SoftRoIExtractor", "CascadeRoIHead"),
    "RFA+CS": ("AugFPN", "SingleRoIExtractor", "AugFPNCascadeRoIHead"),
    "RFA+SRS+CS": ("AugFPN", "SoftRoIExtractor", "AugFPNCascadeRoIHead"),
}


def variant_config(name: str, data_root: str, epochs: int, times: int, work_dir: str) -> Any:
    """The demo config with variant ``name``'s neck, extractors and RoI head."""
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}")
    neck, extractor, head = VARIANTS[name]
    cfg = detkit.Config.fromfile(str(DEMO_CONFIG))
    cfg.model.neck.type = neck
    cfg.model.roi_head.type = head
    cfg.model.roi_head.bbox_roi_extractor.type = extractor
    cfg.model.roi_head.mask_roi_extractor.type = extractor
    root = data_root.rstrip("/") + "/"
    cfg.data.train.times = times
    cfg.data.train.dataset.update(
        ann_file=root + "annotations/instancesonly_filtered_gtFine_train.json",
        img_prefix=root + "leftImg8bit/train/")
    cfg.data.val.update(ann_file=root + "annotations/instancesonly_filtered_gtFine_val.json",
                        img_prefix=root + "leftImg8bit/val/")
    cfg.runner = dict(type="EpochBasedRunner", max_epochs=epochs)
    cfg.total_epochs = epochs
    cfg.lr_config.step = [max(1, epochs - 1)]
    cfg.checkpoint_config = dict(interval=epochs, max_keep_ckpts=1)
    cfg.work_dir = work_dir
    return cfg


def ensure_sample(data_root: str) -> None:
    """Generate and convert the synthetic sample (as ``make data``) if it is missing."""
    if Path(data_root, "annotations", "instancesonly_filtered_gtFine_val.json").exists():
        return
    detkit.generate_cityscapes_sample(data_root, train=60, val=20, test=0, size=(512, 256), seed=0)
    detkit.convert_cityscapes(data_root, out_dir=os.path.join(data_root, "annotations"),
                              splits=("train", "val"), show_progress=False)


def run_variant(name: str, args: argparse.Namespace, work_root: str) -> dict[str, Any]:
    cfg = variant_config(name, args.data_root, args.epochs, args.times,
                         os.path.join(work_root, name.replace("+", "_")))
    detkit.set_random_seed(args.seed)
    cfg.seed = args.seed
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    dataset = detkit.build_dataset(cfg.data.train)
    model.CLASSES = dataset.CLASSES
    start = time.perf_counter()
    detkit.train_detector(model, dataset, cfg, validate=False)
    train_s = time.perf_counter() - start
    metrics = detkit.evaluate_detector(model, cfg, metric=("bbox", "segm"), split="val",
                                       classwise=False)
    return dict(variant=name, params=sum(p.numel() for p in model.parameters()),
                train_s=round(train_s, 1), bbox_mAP=metrics["bbox_mAP"],
                segm_mAP=metrics["segm_mAP"])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--times", type=int, default=4, help="RepeatDataset passes per epoch")
    parser.add_argument("--data-root", default=str(ROOT / "data" / "cityscapes_sample"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    ensure_sample(args.data_root)
    rows = []
    with tempfile.TemporaryDirectory(prefix="detkit_ablation_") as work_root:
        for name in args.variants:
            rows.append(run_variant(name, args, work_root))
    print(f"\n{'variant':<12}{'params':>12}{'train s':>9}{'bbox mAP':>10}{'segm mAP':>10}")
    for row in rows:
        print(f"{row['variant']:<12}{row['params']:>12,}{row['train_s']:>9.1f}"
              f"{row['bbox_mAP']:>10.3f}{row['segm_mAP']:>10.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(epochs=args.epochs, times=args.times, seed=args.seed, rows=rows), f,
                      indent=1)
    return rows


if __name__ == "__main__":
    main()
