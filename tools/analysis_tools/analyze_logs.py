"""Plot training curves or summarise iteration times of ``.log.json`` files (MMDetection v2
``tools/analysis_tools/analyze_logs.py``).

    python tools/analysis_tools/analyze_logs.py plot_curve a.log.json b.log.json \
        --keys loss_cls loss_bbox --legend a_cls a_bbox b_cls b_bbox --out losses.png
    python tools/analysis_tools/analyze_logs.py plot_curve a.log.json --keys bbox_mAP --out map.png
    python tools/analysis_tools/analyze_logs.py cal_train_time a.log.json [--include-outliers]
"""

from __future__ import annotations

import argparse

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Analyze Json Log")
    subparsers = parser.add_subparsers(dest="task", required=True, help="task parser")
    plot = subparsers.add_parser("plot_curve", help="parser for plotting curves")
    plot.add_argument("json_logs", type=str, nargs="+", help="path of train log in json format")
    plot.add_argument(
        "--keys", type=str, nargs="+", default=["bbox_mAP"], help="the metric that you want to plot"
    )
    plot.add_argument("--start-epoch", type=int, default=1, help="the epoch that you want to start")
    plot.add_argument(
        "--eval-interval", type=int, default=1, help="the eval interval when training"
    )
    plot.add_argument("--title", type=str, help="title of figure")
    plot.add_argument("--legend", type=str, nargs="+", default=None, help="legend of each plot")
    plot.add_argument("--backend", type=str, default=None, help="backend of plt")
    plot.add_argument(
        "--style", type=str, default="dark", help="style of plt (seaborn style names)"
    )
    plot.add_argument(
        "--out", type=str, default=None, help="save the figure there instead of showing it"
    )
    times = subparsers.add_parser(
        "cal_train_time", help="parser for computing the average time per training iteration"
    )
    times.add_argument("json_logs", type=str, nargs="+", help="path of train log in json format")
    times.add_argument(
        "--include-outliers",
        action="store_true",
        help="include the first value of every epoch when computing the average time",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> object:
    args = parse_args(argv)
    if args.task == "cal_train_time":
        return detkit.analysis.cal_train_time(
            args.json_logs, include_outliers=args.include_outliers
        )
    return detkit.analysis.plot_curve(
        args.json_logs,
        keys=args.keys,
        legend=args.legend,
        title=args.title,
        start_epoch=args.start_epoch,
        eval_interval=args.eval_interval,
        style=args.style,
        backend=args.backend,
        out=args.out,
    )


if __name__ == "__main__":
    detkit.cli.run_cli(main)
