"""The seed model on the training device: inference fps and train images/s, CPU-worker vs
device-side augmentation.

Usage: python bench/gpu.py [--out FILE.json] [--device cuda|cpu] [--iters 20] [--train-iters 20]
                           [--workers 4] [--samples-per-gpu 2] [--tiny] [--threads N]

Model: the seed config ``configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py``
(Cascade Mask R-CNN R50 + AugFPN, 8 classes), random init (nothing is downloaded). ``--tiny``
shrinks it to the tests' 16-channel variant (the smoke test's setting).

Rows:
- ``infer_<H>x<W>_<precision>``: ``model.simple_test`` on one image (batch 1), frames/s over
  ``--iters`` timed calls after warm-up; ``amp`` is ``torch.autocast`` (float16 on CUDA,
  bfloat16 on CPU). Sizes: 1024x2048 and 800x1333 on CUDA; on CPU (labelled so) 256x512 and
  200x333 (``--tiny``: 64x128 and 50x83).
- ``train_<cpu_workers|device>_augment``: ``detkit.train_detector`` on a generated
  Cityscapes-format sample with the seed train pipeline (AutoAugment Rotate/Translate, Resize
  to the seed's scales, flip, normalise, pad), ``--workers`` loader workers, fp16 on CUDA;
  images/s over ``--train-iters`` steps after 2 warm-up steps, and the data-loader wait (time
  from the end of a step to the next batch in hand) as a share of the step. Images are
  2048x1024 on CUDA (the seed's scale), 512x256 resized to (512, 200)-(512, 256) on CPU,
  128x64 with ``--tiny``.

Prints a table and writes JSON (``--out``, default ``bench/gpu.json``) with the device name.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import detkit

ROOT = Path(__file__).resolve().parents[1]
SEED_CONFIG = (
    ROOT / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
)
_HEAD = dict(
    type="Shared2FCBBoxHead",
    in_channels=16,
    fc_out_channels=32,
    roi_feat_size=7,
    num_classes=8,
    reg_class_agnostic=True,
    bbox_coder=dict(
        type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
    ),
    loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),
)
TINY = {
    "model.backbone.depth": 18,
    "model.backbone.base_channels": 16,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 16,
    "model.rpn_head.in_channels": 16,
    "model.rpn_head.feat_channels": 16,
    "model.roi_head.bbox_roi_extractor.out_channels": 16,
    "model.roi_head.mask_roi_extractor.out_channels": 16,
    "model.roi_head.bbox_head": [_HEAD] * 3,
    "model.roi_head.mask_head.in_channels": 16,
    "model.roi_head.mask_head.conv_out_channels": 16,
}


def _config(tiny: bool) -> Any:
    cfg = detkit.Config.fromfile(str(SEED_CONFIG))
    cfg.merge_from_dict(
        {"model.backbone.init_cfg": None, "load_from": None, **(TINY if tiny else {})}
    )
    return cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(cfg: Any, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return detkit.build_detector(
        cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg")
    ).to(device)


def bench_inference(
    cfg: Any, device: torch.device, sizes: list[tuple[int, int]], iters: int
) -> dict[str, Any]:
    model = _model(cfg, device).eval()
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    rows = {}
    for h, w in sizes:
        img = torch.randn(1, 3, h, w, device=device)
        metas = [
            dict(
                img_shape=(h, w, 3),
                ori_shape=(h, w, 3),
                pad_shape=(h, w, 3),
                scale_factor=1.0,
                flip=False,
            )
        ]
        for precision in ("fp32", "amp"):

            def call() -> None:
                with (
                    torch.no_grad(),
                    torch.autocast(device.type, dtype=amp_dtype, enabled=precision == "amp"),  # noqa: B023 (called in this iteration)
                ):
                    model.simple_test(img, metas, rescale=True)  # noqa: B023

            for _ in range(2):
                call()
            _sync(device)
            start = time.perf_counter()
            for _ in range(iters):
                call()
            _sync(device)
            elapsed = time.perf_counter() - start
            rows[f"infer_{h}x{w}_{precision}"] = {
                "fps": iters / elapsed,
                "ms_per_image": 1000 * elapsed / iters,
                "size": [h, w],
                "precision": precision,
            }
    return rows


@detkit.registry.HOOKS.register_module()
class BenchStepTimesHook(detkit.engine.Hook):
    """Per training step: the data-loader wait (end of the last step -> batch in hand) and the
    step time (batch in hand -> optimizer stepped, device synchronised)."""

    priority = "LOWEST"

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.waits: list[float] = []
        self.steps: list[float] = []
        self._end = time.perf_counter()
        self._ready = 0.0

    def before_step(self, runner: Any) -> None:
        self._ready = time.perf_counter()
        self.waits.append(self._ready - self._end)

    def after_step(self, runner: Any) -> None:
        _sync(self.device)
        self._end = time.perf_counter()
        self.steps.append(self._end - self._ready)


def _train_sample(work: Path, size: tuple[int, int], count: int) -> Path:
    root = work / "sample"
    detkit.generate_cityscapes_sample(root, train=count, val=0, test=0, size=size, seed=0)
    detkit.convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train",)
    )
    return root


def bench_train(
    cfg: Any,
    device: torch.device,
    root: Path,
    scales: list[tuple[int, int]] | None,
    iters: int,
    workers: int,
    samples_per_gpu: int,
    work: Path,
) -> dict[str, Any]:
    rows = {}
    warmup = 2
    for mode in ("cpu_workers", "device"):
        run_cfg = copy.deepcopy(cfg)
        prefix = str(root) + "/"
        run_cfg.merge_from_dict(
            {
                "data.train.times": 100,
                "data.train.dataset.ann_file": prefix
                + "annotations/instancesonly_filtered_gtFine_train.json",
                "data.train.dataset.img_prefix": prefix + "leftImg8bit/train/",
                "data.samples_per_gpu": samples_per_gpu,
                "data.workers_per_gpu": workers,
                "runner": dict(type="IterBasedRunner", max_iters=warmup + iters),
                "checkpoint_config.interval": 10**6,
                "log_config": dict(interval=10**6, hooks=[dict(type="TextLoggerHook")]),
                "lr_config.warmup_iters": 1,
                "optimizer.lr": 1e-4,
                "work_dir": str(work / mode),
                "seed": 0,
                "device": device.type,
                "device_augment": mode == "device",
                "custom_hooks": [dict(type="BenchStepTimesHook", device=str(device))],
                "fp16": dict(loss_scale="dynamic") if device.type == "cuda" else None,
            }
        )
        if scales is not None:
            for transform in run_cfg.data.train.dataset.pipeline:
                if transform["type"] == "Resize":
                    transform["img_scale"] = scales
        detkit.set_random_seed(0)
        model = _model(run_cfg, device)
        dataset = detkit.build_dataset(run_cfg.data.train)
        runner = detkit.train_detector(model, dataset, run_cfg, validate=False)
        timer = next(h for h in runner.hooks if isinstance(h, BenchStepTimesHook))
        waits, steps = timer.waits[warmup:], timer.steps[warmup:]
        total = sum(waits) + sum(steps)
        rows[f"train_{mode}_augment"] = {
            "images_per_s": samples_per_gpu * len(steps) / total,
            "step_ms": 1000 * sum(steps) / len(steps),
            "loader_wait_ms": 1000 * sum(waits) / len(waits),
            "loader_wait_share": sum(waits) / total,
            "workers": workers,
            "samples_per_gpu": samples_per_gpu,
            "iters": len(steps),
            "max_memory_mb": int(torch.cuda.max_memory_allocated() / 2**20)
            if device.type == "cuda"
            else 0,
        }
    return rows


def _write(out: Path, result: dict[str, Any]) -> None:
    """Atomic JSON write."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(out.suffix + ".tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "gpu.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--train-iters", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--samples-per-gpu", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--tiny", action="store_true", help="the tests' 16-channel model and tiny sizes"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = _config(args.tiny)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        sizes, image_size, scales = [(1024, 2048), (800, 1333)], (2048, 1024), None
        torch.backends.cudnn.benchmark = True
    else:
        name = (
            f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
        if args.tiny:
            sizes, image_size, scales = [(64, 128), (50, 83)], (128, 64), [(128, 50), (128, 64)]
        else:
            sizes, image_size, scales = (
                [(256, 512), (200, 333)],
                (512, 256),
                [(512, 200), (512, 256)],
            )
    result = {
        "device": name,
        "device_type": device.type,
        "tiny": args.tiny,
        "torch": torch.__version__,
        "model": "Cascade Mask R-CNN R50 + AugFPN (seed config)"
        if not args.tiny
        else "tiny seed variant",
        "rows": {},
    }
    out = Path(args.out)
    result["rows"].update(bench_inference(cfg, device, sizes, args.iters))
    _write(out, result)  # inference rows are kept if training is interrupted
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = _train_sample(work, image_size, count=max(4, args.samples_per_gpu * 2))
        result["rows"].update(
            bench_train(
                cfg,
                device,
                root,
                scales,
                args.train_iters,
                args.workers,
                args.samples_per_gpu,
                work,
            )
        )
    _write(out, result)
    print(f"device: {name}{' (CPU: small sizes)' if device.type == 'cpu' else ''}")
    print(f"{'row':38s} {'fps / img/s':>12s} {'ms':>10s} {'loader wait':>12s}")
    for key, row in result["rows"].items():
        if key.startswith("infer"):
            print(f"{key:38s} {row['fps']:12.2f} {row['ms_per_image']:10.1f} {'':>12s}")
        else:
            print(
                f"{key:38s} {row['images_per_s']:12.2f} {row['step_ms']:10.1f} "
                f"{100 * row['loader_wait_share']:11.1f}%"
            )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
