"""Parameters and FLOPs of a config's model (MMDetection v2
``tools/analysis_tools/get_flops.py``), counted with ``torch.utils.flop_counter`` and broken
down per module group.

    python tools/analysis_tools/get_flops.py CONFIG --shape 1024 512 [--depth 2]
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Get a detector flops")
    parser.add_argument("config", help="train config file path")
    parser.add_argument(
        "--shape",
        type=int,
        nargs="+",
        default=[1280, 800],
        help="input image size (H W, or one size)",
    )
    parser.add_argument(
        "--size-divisor",
        type=int,
        default=32,
        help="Pad the input image, the minimum size that is divisible by size_divisor, "
        "-1 means do not pad the image.",
    )
    parser.add_argument(
        "--depth",
        type=int,
        default=1,
        help="module groups down to this depth (1: backbone, neck, rpn_head, roi_head)",
    )
    parser.add_argument(
        "--device", default=None, help="device (default: cuda if available, else cpu)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="override config settings, key=value",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> object:
    args = parse_args(argv)
    report = detkit.analysis.get_flops(
        args.config,
        shape=tuple(args.shape),
        size_divisor=args.size_divisor,
        depth=args.depth,
        device=args.device,
        cfg_options=args.cfg_options,
    )
    print(detkit.analysis.format_flops(report))
    return report


if __name__ == "__main__":
    detkit.cli.run_cli(main)
