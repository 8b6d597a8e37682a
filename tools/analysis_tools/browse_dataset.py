"""Draw the training pipeline's output (MMDetection v2
``tools/analysis_tools/browse_dataset.py``): each augmented training image with its boxes,
labels and masks, shown and/or saved to ``--output-dir``.

    python tools/analysis_tools/browse_dataset.py CONFIG --output-dir browse/ --not-show
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Browse a dataset")
    parser.add_argument("config", help="train config file path")
    parser.add_argument(
        "--skip-type",
        type=str,
        nargs="+",
        default=["DefaultFormatBundle", "Normalize", "Collect"],
        help="skip some useless pipeline",
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        type=str,
        help="If there is no display interface, you can save it",
    )
    parser.add_argument("--not-show", default=False, action="store_true")
    parser.add_argument("--show-interval", type=float, default=2, help="the interval of show (s)")
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
    return detkit.analysis.browse_dataset(
        args.config,
        skip_type=args.skip_type,
        output_dir=args.output_dir,
        not_show=args.not_show,
        show_interval=args.show_interval,
        cfg_options=args.cfg_options,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
