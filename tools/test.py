"""Test (and evaluate) a trained detector: MMDetection v2 ``tools/test.py``.

python tools/test.py CONFIG CHECKPOINT --eval bbox segm [--eval-options classwise=True]
python tools/test.py CONFIG CHECKPOINT --format-only --eval-options jsonfile_prefix=out/res
python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir drawn/
torchrun --nproc_per_node=2 tools/test.py CONFIG CHECKPOINT --eval bbox --launcher pytorch
"""

from __future__ import annotations

import argparse
import os

import torch

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="detkit test (and eval) a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help="directory for the eval_<timestamp>.json metrics file")
    parser.add_argument("--out", help="output result file in pickle format (.pkl/.pickle)")
    parser.add_argument(
        "--format-only",
        action="store_true",
        help="only format the results (e.g. for a test server), no evaluation",
    )
    parser.add_argument(
        "--eval",
        type=str,
        nargs="+",
        help='metrics: "bbox", "segm", "proposal" (COCO) or "cityscapes"',
    )
    parser.add_argument("--show", action="store_true", help="show the drawn results")
    parser.add_argument("--show-dir", help="directory where drawn images are saved")
    parser.add_argument(
        "--show-score-thr",
        type=float,
        default=0.3,
        help="score threshold for drawing (default: 0.3)",
    )
    parser.add_argument(
        "--fuse-conv-bn",
        action="store_true",
        help="fold BatchNorm into the conv before it (slightly faster inference)",
    )
    parser.add_argument("--gpu-id", type=int, default=0, help="GPU to use (non-distributed)")
    parser.add_argument(
        "--device", default=None, help="device (default: cuda:<gpu-id> if available, else cpu)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="override config settings, key=value (e.g. model.test_cfg.rcnn.score_thr=0.3)",
    )
    parser.add_argument(
        "--strict-cfg-options",
        action="store_true",
        help="fail on a --cfg-options key the config does not have (default: warn)",
    )
    parser.add_argument(
        "--eval-options",
        nargs="+",
        action=detkit.DictAction,
        default={},
        help="kwargs of dataset.evaluate/format_results (e.g. classwise=True)",
    )
    parser.add_argument(
        "--launcher",
        choices=["none", "pytorch", "slurm"],
        default="none",
        help="job launcher: torchrun (pytorch) or srun (slurm)",
    )
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    if not (args.out or args.eval or args.format_only or args.show or args.show_dir):
        parser.error("choose at least one of --out, --eval, --format-only, --show, --show-dir")
    if args.eval and args.format_only:
        parser.error("--eval and --format-only cannot be both specified")
    if args.out is not None and not args.out.endswith((".pkl", ".pickle")):
        parser.error(f"--out must be a .pkl or .pickle file, got {args.out}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    cfg = detkit.Config.load(args.config, args.cfg_options, strict=args.strict_cfg_options)
    distributed = args.launcher != "none"
    if distributed:
        detkit.init_dist(args.launcher, **detkit.config.setting(cfg, "dist_params"))
    try:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        gpu = local_rank if distributed else args.gpu_id
        device = args.device or (f"cuda:{gpu}" if torch.cuda.is_available() else "cpu")
        setup = detkit.setup_testing(
            cfg,
            args.checkpoint,
            device=device,
            distributed=distributed,
            fuse_conv_bn=args.fuse_conv_bn,
        )
        return setup.test(
            metric=args.eval,
            format_only=args.format_only,
            eval_options=args.eval_options,
            out=args.out,
            show=args.show,
            show_dir=args.show_dir,
            show_score_thr=args.show_score_thr,
            work_dir=args.work_dir,
        )
    finally:
        if distributed:  # a rank leaving with a live gloo group aborts the process at exit
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    detkit.cli.run_cli(main)
