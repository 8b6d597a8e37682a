"""Train a detector: ``python tools/train.py CONFIG [options]`` (MMDetection v2.28 arguments).

Distributed: ``torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch`` (multi-node:
add torchrun's ``--nnodes``/``--node_rank``/``--master_addr``/``--master_port``).
This script turns the arguments into config settings; ``detkit.setup_training`` builds the
run (config dump, log, seed, model, datasets) and ``detkit.train_detector`` trains it.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import warnings

import torch

import detkit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a detector")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument("--resume-from", help="the checkpoint file to resume from")
    parser.add_argument(
        "--auto-resume", action="store_true", help="resume from the latest checkpoint in work_dir"
    )
    parser.add_argument(
        "--no-validate", action="store_true", help="do not evaluate checkpoints during training"
    )
    gpus = parser.add_mutually_exclusive_group()
    gpus.add_argument(
        "--gpus", type=int, help="(deprecated, use --gpu-id) number of GPUs; only 1 is used"
    )
    gpus.add_argument(
        "--gpu-ids",
        type=int,
        nargs="+",
        help="(deprecated, use --gpu-id) ids of GPUs; the first is used",
    )
    gpus.add_argument(
        "--gpu-id", type=int, default=0, help="id of the GPU to use (non-distributed)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument(
        "--diff-seed", action="store_true", help="different seeds for different ranks"
    )
    parser.add_argument("--deterministic", action="store_true", help="deterministic cuDNN")
    parser.add_argument(
        "--options", nargs="+", action=detkit.DictAction, help="(deprecated) use --cfg-options"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=detkit.DictAction,
        help="override config settings, e.g. model.roi_head.bbox_head.0.num_classes=8",
    )
    parser.add_argument(
        "--strict-cfg-options",
        action="store_true",
        help="fail on a --cfg-options key the config does not have (default: warn)",
    )
    parser.add_argument(
        "--launcher",
        choices=["none", "pytorch", "slurm"],
        default="none",
        help="job launcher: torchrun (pytorch) or srun (slurm)",
    )
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    parser.add_argument(
        "--auto-scale-lr", action="store_true", help="scale the LR by total batch / base batch"
    )
    parser.add_argument(
        "--early-stopping",
        nargs="*",
        action=detkit.DictAction,
        metavar="KEY=VALUE",
        help="stop when a validation value stops improving and keep its best checkpoint: "
        "EarlyStoppingHook arguments, e.g. monitor=val_loss patience=3 min_delta=0.01 "
        "(monitor defaults to val_loss, which adds a ('val', 1) workflow phase)",
    )
    parser.add_argument(
        "--device-augment",
        action="store_true",
        help="run the train pipeline's augmentation on the device batch (config key "
        "device_augment=True)",
    )
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    if args.options and args.cfg_options:
        raise ValueError(
            "--options and --cfg-options cannot both be given; --options is deprecated, use "
            "--cfg-options"
        )
    if args.options:
        warnings.warn(
            "--options is deprecated in favor of --cfg-options", UserWarning, stacklevel=2
        )
        args.cfg_options = args.options
    return args


def main(argv: list[str] | None = None) -> detkit.engine.Runner:
    args = parse_args(argv)
    cfg = detkit.Config.load(args.config, args.cfg_options, strict=args.strict_cfg_options)
    if args.auto_scale_lr:
        if "auto_scale_lr" in cfg and "base_batch_size" in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            warnings.warn(
                "--auto-scale-lr is set but the config has no auto_scale_lr.base_batch_size; LR "
                "not scaled",
                UserWarning,
                stacklevel=2,
            )
    if args.device_augment:
        cfg.device_augment = True
    if args.early_stopping is not None:
        detkit.engine.enable_early_stopping(cfg, args.early_stopping)
    detkit.config.resolve_work_dir(cfg, args.work_dir, args.config)
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
    cfg.auto_resume = args.auto_resume
    if args.gpus is not None and args.gpus != 1:
        warnings.warn(
            f"--gpus {args.gpus}: non-distributed training uses a single GPU",
            UserWarning,
            stacklevel=2,
        )
    gpu_id = args.gpu_ids[0] if args.gpu_ids else args.gpu_id
    if torch.cuda.is_available() and args.launcher == "none":
        torch.cuda.set_device(gpu_id)

    distributed = args.launcher != "none"
    if distributed:
        detkit.init_dist(args.launcher, **detkit.config.setting(cfg, "dist_params"))

    randomness = cfg.get("randomness") or {}  # an MMDetection 3.x config's seed settings
    setup = detkit.setup_training(
        cfg,
        distributed=distributed,
        seed=args.seed if args.seed is not None else randomness.get("seed"),
        deterministic=args.deterministic or bool(randomness.get("deterministic", False)),
        diff_seed=args.diff_seed or bool(randomness.get("diff_rank_seed", False)),
        exp_name=osp.basename(args.config),
    )
    runner = setup.train(validate=not args.no_validate)
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return runner


if __name__ == "__main__":
    main()
