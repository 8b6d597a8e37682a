"""Draw the best and worst images of a results pickle by per-image box mAP (MMDetection v2
``tools/analysis_tools/analyze_results.py``) into ``SHOW_DIR/good`` and ``SHOW_DIR/bad``.

    python tools/analysis_tools/analyze_results.py CONFIG results.pkl SHOW_DIR --topk 20
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="detkit eval image prediction result for each")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("prediction_path", help="prediction path where test pkl result")
    parser.add_argument("show_dir", help="directory where painted images will be saved")
    parser.add_argument("--show", action="store_true", help="show results")
    parser.add_argument(
        "--wait-time", type=float, default=0, help="the interval of show (s), 0 is block"
    )
    parser.add_argument(
        "--topk",
        default=20,
        type=int,
        help="saved Number of the highest topk and lowest topk after index sorting",
    )
    parser.add_argument(
        "--show-score-thr", type=float, default=0, help="score threshold (default: 0.)"
    )
    parser.add_argument(
        "--overlay-gt-pred",
        action="store_true",
        help="draw ground truth and predictions on one image (default: one above the other)",
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
    return detkit.analysis.analyze_results(
        args.config,
        args.prediction_path,
        args.show_dir,
        topk=args.topk,
        show=args.show,
        wait_time=args.wait_time,
        show_score_thr=args.show_score_thr,
        overlay_gt_pred=args.overlay_gt_pred,
        cfg_options=args.cfg_options,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
