"""Convert a config between MMDetection generations:
``python tools/misc/convert_config.py IN.py OUT.py --to v3|v2 [--v3-native]``.

IN is loaded with its ``_base_`` files (v2 or v3 layout, text or pure-Python) and OUT is
written ``_base_``-free in the other generation's schema (``.py``, ``.json`` or ``.yaml``).
Every key that did not map exactly is printed with the reason (dropped: no effect;
approximate: runs with other semantics; unsupported: left out). ``--v3-native`` writes the
nearest MMDetection 3 transform where a v2 transform has no exact v3 equivalent (default: keep
it as ``detkit.<name>``, which detkit runs exactly and MMDetection 3 cannot).
"""

from __future__ import annotations

import argparse
import sys

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert a config between mmdet v2 and v3")
    parser.add_argument("config", help="the config to convert")
    parser.add_argument("out", help="where to write the converted config (.py/.json/.yaml)")
    parser.add_argument("--to", choices=["v2", "v3"], required=True, help="target generation")
    parser.add_argument(
        "--v3-native",
        action="store_true",
        help="write the nearest v3 transforms instead of detkit.<name> for v2-only ones",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Convert, write, print the report; returns the exit code (0; 1 if IN is already of the
    target generation)."""
    args = parse_args(argv)
    source = detkit.Config.fromfile(args.config, import_custom_modules=False, translate=False)
    generation = detkit.config.config_generation(source, f"config file {args.config}")
    if generation == args.to:
        print(f"{args.config} is already an MMDetection {args.to} config", file=sys.stderr)
        return 1
    if args.to == "v3":
        converted, report = detkit.config.to_v3(source.to_dict(), native=args.v3_native)
    else:
        converted, report = detkit.config.to_internal(source.to_dict(), target="v2")
    detkit.Config(converted).dump(args.out)
    print(f"wrote {args.out} (MMDetection {args.to})")
    print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
