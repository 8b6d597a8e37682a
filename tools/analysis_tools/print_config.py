"""Print the fully merged config (MMDetection v2 ``tools/misc/print_config.py``).

python tools/analysis_tools/print_config.py CONFIG [--cfg-options model.neck.type=FPN]
"""

from __future__ import annotations

import argparse
import warnings

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print the whole config")
    parser.add_argument("config", help="config file path")
    parser.add_argument(
        "--options",
        nargs="+",
        action=detkit.DictAction,
        help="override some settings in the used config (deprecated, use --cfg-options)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        help="override config settings, key=value",
    )
    args = parser.parse_args(argv)
    if args.options and args.cfg_options:
        parser.error(
            "--options and --cfg-options cannot be both specified, --options is deprecated "
            "in favor of --cfg-options"
        )
    if args.options:
        warnings.warn("--options is deprecated in favor of --cfg-options", stacklevel=2)
        args.cfg_options = args.options
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    return detkit.analysis.print_config(args.config, cfg_options=args.cfg_options)


if __name__ == "__main__":
    detkit.cli.run_cli(main)
