"""Convert a Cityscapes tree to COCO instance annotations (MMDetection v2 CLI and semantics).

python tools/convert_datasets/cityscapes.py data/cityscapes --nproc 8 --out-dir
data/cityscapes/annotations
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert Cityscapes annotations to COCO format")
    parser.add_argument("cityscapes_path", help="Cityscapes root (holds leftImg8bit/ and gtFine/)")
    parser.add_argument("--img-dir", default="leftImg8bit", type=str)
    parser.add_argument("--gt-dir", default="gtFine", type=str)
    parser.add_argument("-o", "--out-dir", help="output path (default: cityscapes_path)")
    parser.add_argument("--nproc", default=1, type=int, help="number of processes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    summaries = detkit.convert_cityscapes(
        args.cityscapes_path,
        args.out_dir,
        img_dir=args.img_dir,
        gt_dir=args.gt_dir,
        nproc=args.nproc,
    )
    print()
    for summary in summaries:
        print(summary)


if __name__ == "__main__":
    main()
