"""Inference speed of a checkpoint on the test split (MMDetection v2
``tools/analysis_tools/benchmark.py``), after 5 warm-up images; runs in one process (v2
needs a distributed launcher).

    python tools/analysis_tools/benchmark.py CONFIG CHECKPOINT --max-iter 200 --log-interval 50
    [--fuse-conv-bn]
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="detkit benchmark a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument(
        "--repeat-num",
        type=int,
        default=1,
        help="number of repeat times of measurement for averaging the results",
    )
    parser.add_argument("--max-iter", type=int, default=2000, help="num of max iter")
    parser.add_argument("--log-interval", type=int, default=50, help="interval of logging")
    parser.add_argument(
        "--fuse-conv-bn",
        action="store_true",
        help="Whether to fuse conv and bn, this will slightly increase the inference speed",
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
    return detkit.analysis.benchmark(
        args.config,
        args.checkpoint,
        repeat_num=args.repeat_num,
        max_iter=args.max_iter,
        log_interval=args.log_interval,
        fuse_conv_bn=args.fuse_conv_bn,
        device=args.device,
        cfg_options=args.cfg_options,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
