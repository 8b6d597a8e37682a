"""COCO error breakdown (C75, C50, Loc, Sim, Oth, BG, FN) as PR plots per class
(MMDetection v2 ``tools/analysis_tools/coco_error_analysis.py``) from a COCO result json.

    python tools/test.py CONFIG CHECKPOINT --format-only --eval-options jsonfile_prefix=out/res
    python tools/analysis_tools/coco_error_analysis.py out/res.bbox.json errors/ --ann ANN.json
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="COCO Error Analysis Tool")
    parser.add_argument("result", help="result file (json format) path")
    parser.add_argument("out_dir", help="dir to save analyze result images")
    parser.add_argument(
        "--ann", default="data/coco/annotations/instances_val2017.json", help="annotation file path"
    )
    parser.add_argument("--types", type=str, nargs="+", default=["bbox"], help="result types")
    parser.add_argument("--extraplots", action="store_true", help="export extra bar/stat plots")
    parser.add_argument(
        "--areas", type=int, nargs="+", default=[1024, 9216, 10000000000], help="area regions"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> object:
    args = parse_args(argv)
    summary = detkit.analysis.coco_error_analysis(
        args.result,
        args.out_dir,
        ann=args.ann,
        types=args.types,
        extraplots=args.extraplots,
        areas=args.areas,
    )
    for res_type, per_class in summary.items():
        print(f"{res_type}: AP per error type (all areas)")
        print(f"{'class':<16}" + "".join(f"{name:>7}" for name in next(iter(per_class.values()))))
        for name, aps in per_class.items():
            print(f"{name:<16}" + "".join(f"{ap:>7.3f}" for ap in aps.values()))
    return summary


if __name__ == "__main__":
    detkit.cli.run_cli(main)
