"""Confusion matrix of a results pickle (MMDetection v2
``tools/analysis_tools/confusion_matrix.py``); saves ``SAVE_DIR/confusion_matrix.png``.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis_tools/confusion_matrix.py CONFIG results.pkl SAVE_DIR --score-thr 0.3
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate confusion matrix from detection results")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("prediction_path", help="prediction path where test .pkl result")
    parser.add_argument("save_dir", help="directory where confusion matrix will be saved")
    parser.add_argument("--show", action="store_true", help="show confusion matrix")
    parser.add_argument("--color-theme", default="plasma", help="theme of the matrix color map")
    parser.add_argument(
        "--score-thr", type=float, default=0.3, help="score threshold to filter detection bboxes"
    )
    parser.add_argument(
        "--tp-iou-thr", type=float, default=0.5, help="IoU threshold to be considered as matched"
    )
    parser.add_argument(
        "--nms-iou-thr",
        type=float,
        default=None,
        help="nms IoU threshold, only applied when users want to change the nms IoU threshold",
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
    return detkit.analysis.confusion_matrix(
        args.config,
        args.prediction_path,
        args.save_dir,
        show=args.show,
        color_theme=args.color_theme,
        score_thr=args.score_thr,
        tp_iou_thr=args.tp_iou_thr,
        nms_iou_thr=args.nms_iou_thr,
        cfg_options=args.cfg_options,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
