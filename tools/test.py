"""Test (and evaluate) a trained detector: MMDetection v2 ``tools/test.py``.

python tools/test.py CONFIG CHECKPOINT --eval bbox segm [--eval-options classwise=True]
python tools/test.py CONFIG CHECKPOINT --format-only --eval-options jsonfile_prefix=out/res
python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir drawn/
torchrun --nproc_per_node=2 tools/test.py CONFIG CHECKPOINT --eval bbox --launcher pytorch
"""

from __future__ import annotations

import argparse
import difflib
import os
from typing import Any

import torch

import detkit

# keys of cfg.evaluation that configure the EvalHook, not dataset.evaluate
HOOK_ONLY_KEYS = (
    "interval",
    "tmpdir",
    "start",
    "gpu_collect",
    "save_best",
    "rule",
    "dynamic_intervals",
    "by_epoch",
)


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


def check_metrics(names: list[str] | tuple[str, ...], dataset: Any) -> None:
    """Refuse a metric the test dataset's ``METRICS`` (when it declares them) lacks, naming the
    closest one; datasets without ``METRICS`` (users' own) judge their metrics in ``evaluate``."""
    supported = getattr(dataset, "METRICS", None)
    for name in names if supported is not None else ():
        if name not in supported:
            close = difflib.get_close_matches(name, supported, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"--eval: unknown metric {name!r} for {type(dataset).__name__}; "
                f"{hint}choose from {', '.join(supported)}"
            )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    cfg = detkit.Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options, strict=args.strict_cfg_options)

    distributed = args.launcher != "none"
    if distributed:
        detkit.init_dist(args.launcher, **cfg.get("dist_params", {}))
    try:
        return _test_and_evaluate(args, cfg, distributed)
    finally:
        if distributed:  # a rank leaving with a live gloo group aborts the process at exit
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def _test_and_evaluate(args: argparse.Namespace, cfg: detkit.Config, distributed: bool) -> dict:
    """Run the model over ``cfg.data.test`` and, on rank 0, write/evaluate the results."""
    rank, _ = detkit.get_dist_info()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = args.device or (
        f"cuda:{local_rank if distributed else args.gpu_id}" if torch.cuda.is_available() else "cpu"
    )

    cfg.data.test.test_mode = True
    samples_per_gpu = cfg.data.test.pop("samples_per_gpu", 1)
    dataset = detkit.build_dataset(cfg.data.test)
    check_metrics(args.eval or (), dataset)  # before the model runs over the whole test set
    data_loader = detkit.build_dataloader(
        dataset,
        samples_per_gpu=samples_per_gpu,
        workers_per_gpu=cfg.data.get("workers_per_gpu", 0),
        dist=distributed,
        shuffle=False,
    )
    model = detkit.init_detector(cfg, args.checkpoint, device=device)
    if args.fuse_conv_bn:
        detkit.fuse_conv_bn(model)
    if model.CLASSES is None:
        model.CLASSES = dataset.CLASSES

    if distributed:
        outputs = detkit.multi_gpu_test(model, data_loader, args.show_score_thr, args.show_dir)
    else:
        outputs = detkit.single_gpu_test(
            model, data_loader, args.show, args.show_dir, args.show_score_thr
        )

    metric: dict = {}
    if rank != 0:
        return metric
    if args.out:
        print(f"\nwriting results to {args.out}")
        detkit.io.write_pickle(args.out, outputs)
    if args.format_only:
        dataset.format_results(outputs, **args.eval_options)
    if args.eval:
        eval_kwargs = {
            k: v for k, v in cfg.get("evaluation", {}).items() if k not in HOOK_ONLY_KEYS
        }
        eval_kwargs.update(dict(metric=args.eval, **args.eval_options))
        metric = dataset.evaluate(outputs, **eval_kwargs)
        print(metric)
        if args.work_dir:
            print(
                f"metrics written to {detkit.write_eval_json(args.work_dir, args.config, metric)}"
            )
    return metric


if __name__ == "__main__":
    detkit.run_cli(main)
