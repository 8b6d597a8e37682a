"""CLI: ``python -m detkit.data.synthetic --out data/cityscapes_sample --train 60 --val 20``."""

from __future__ import annotations

import argparse
import time

from detkit.data.synthetic.writer import generate_cityscapes_sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Generate a synthetic sample in the Cityscapes layout"
    )
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--train", type=int, default=60, help="number of train images")
    parser.add_argument("--val", type=int, default=20, help="number of val images")
    parser.add_argument(
        "--test", type=int, default=0, help="number of test images (no annotations)"
    )
    parser.add_argument("--size", type=int, nargs=2, default=(512, 256), metavar=("W", "H"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--instances",
        type=int,
        nargs=2,
        default=(3, 8),
        metavar=("MIN", "MAX"),
        help="evaluated-class objects per image (when it has any)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = generate_cityscapes_sample(
        args.out,
        args.train,
        args.val,
        args.test,
        tuple(args.size),
        args.seed,
        tuple(args.instances),
    )
    total = sum(summary.images.values())
    elapsed = time.perf_counter() - start
    print(
        f"wrote {total} images {summary.images} to {summary.root} in {elapsed:.1f}s "
        f"({elapsed / max(total, 1):.3f} s/image)"
    )
    print("objects per label:", dict(sorted(summary.objects_per_label.items())))


if __name__ == "__main__":
    main()
