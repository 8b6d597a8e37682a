"""Evaluate (or format) a saved results pickle (MMDetection v2
``tools/analysis_tools/eval_metric.py``) without running the model again.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis_tools/eval_metric.py CONFIG results.pkl --eval bbox segm
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Evaluate metric of the results saved in pkl format"
    )
    parser.add_argument("config", help="Config of the model")
    parser.add_argument("pkl_results", help="Results in pickle format")
    parser.add_argument(
        "--format-only",
        action="store_true",
        help="Format the output results without perform evaluation",
    )
    parser.add_argument(
        "--eval",
        type=str,
        nargs="+",
        help='Evaluation metrics: "bbox", "segm", "proposal" (COCO) or "cityscapes"',
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="override config settings, key=value",
    )
    parser.add_argument(
        "--eval-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="kwargs of dataset.evaluate/format_results (e.g. classwise=True)",
    )
    args = parser.parse_args(argv)
    if not (args.eval or args.format_only):
        parser.error(
            "Please specify at least one operation (eval/format the results) with the argument "
            '"--eval", "--format-only"'
        )
    if args.eval and args.format_only:
        parser.error("--eval and --format-only cannot be both specified")
    return args


def main(argv: list[str] | None = None) -> object:
    args = parse_args(argv)
    return detkit.analysis.eval_metric(
        args.config,
        args.pkl_results,
        eval=args.eval,
        format_only=args.format_only,
        cfg_options=args.cfg_options,
        eval_options=args.eval_options,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
