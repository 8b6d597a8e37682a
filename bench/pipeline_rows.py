"""Rows of bench/pipeline.py: detkit beside MMDetection v2.28's logic (re-stated in
tests/transforms/mmdet_reference_seed.py and mmdet_reference_transforms.py), end to end, in
the same run:

- ``seed``: the seed config's train_pipeline (load, annotations, AutoAugment, Resize,
  RandomFlip, Normalize, Pad, DefaultFormatBundle, Collect);
- ``seed+PhotoMetricDistortion+RandomCrop``: the two added after RandomFlip;
- ``+CopyPaste``: a partner image loaded and augmented the same way, both cropped, the
  partner's objects pasted, then PhotoMetricDistortion and the tail.

Per sample and row the two sides run in alternating order (detkit first on even samples),
each from the raw annotation record after ``np.random.seed(same)`` so both draw the same
scales, flips, crops, colours and pasted objects; the outputs are checked equal (else the bench
stops: it would compare different work). Times are process CPU time (what one dedicated core
gives on a shared machine) and wall clock.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detkit.data.transforms.compose import Compose
from detkit.data.transforms.copy_paste import CopyPaste
from detkit.data.transforms.crop import RandomCrop
from detkit.data.transforms.photometric_distort import PhotoMetricDistortion

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "transforms"
CROP_SIZE = (800, 1600)  # (h, w): every resized 2048-wide sample (short edge >= 800) holds it
ROWS = ("seed", "seed+PhotoMetricDistortion+RandomCrop", "+CopyPaste")


def _reference() -> tuple[Any, Any]:
    """tests/transforms as a package (its modules import each other relatively)."""
    if "mmdet_reference" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "mmdet_reference",
            REFERENCE / "__init__.py",
            submodule_search_locations=[str(REFERENCE)],
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["mmdet_reference"] = package
        spec.loader.exec_module(package)  # type: ignore[union-attr]
    return (
        importlib.import_module("mmdet_reference.mmdet_reference_transforms"),
        importlib.import_module("mmdet_reference.mmdet_reference_seed"),
    )


def _row_functions(
    pre: Callable, tail: Callable, pmd: Callable, crop: Callable, paste: Callable
) -> dict[str, Callable[[dict, dict], dict]]:
    def seed(raw: dict, partner: dict) -> dict:
        return tail(pre(raw))

    def crop_row(raw: dict, partner: dict) -> dict:
        return tail(crop(pmd(pre(raw))))

    def paste_row(raw: dict, partner: dict) -> dict:
        results = pre(raw)
        results["mix_results"] = [crop(pre(partner))]
        results = paste(crop(results))
        results.pop("mix_results")
        return tail(pmd(results))

    return dict(zip(ROWS, (seed, crop_row, paste_row)))


def _unwrap(x: Any) -> Any:
    return x.data if hasattr(x, "data") and not isinstance(x, (np.ndarray, torch.Tensor)) else x


def _same(ours: dict[str, Any], theirs: dict[str, Any], row: str) -> None:
    a_masks, b_masks = _unwrap(ours["gt_masks"]).masks, theirs["gt_masks"].masks
    meta_a, meta_b = _unwrap(ours["img_metas"]), theirs["img_metas"]
    same = (
        torch.equal(_unwrap(ours["img"]), theirs["img"])
        and torch.equal(_unwrap(ours["gt_bboxes"]), theirs["gt_bboxes"])
        and torch.equal(_unwrap(ours["gt_labels"]), theirs["gt_labels"])
        and np.array_equal(a_masks, b_masks)
        and all(
            tuple(meta_a[k]) == tuple(meta_b[k]) for k in ("img_shape", "pad_shape", "ori_shape")
        )
        and np.array_equal(meta_a["scale_factor"], meta_b["scale_factor"])
        and meta_a["flip"] == meta_b["flip"]
    )
    if not same:
        raise AssertionError(
            f"row {row!r}: detkit and mmdet outputs differ: the bench would compare different work"
        )


def time_rows(
    dataset: Any,
    pipeline_cfg: list[dict],
    rounds: int,
    rows: tuple[str, ...] = ROWS,
    crop_size: tuple[int, int] = CROP_SIZE,
) -> dict[str, Any]:
    """The ``rows`` over ``rounds`` passes of ``dataset`` (only its raw records are used);
    RandomCrop is ``absolute`` ``crop_size`` (both CopyPaste images must end up that size)."""
    ref, seed_ref = _reference()
    crop = dict(crop_size=crop_size, crop_type="absolute", allow_negative_crop=True)
    ours = _row_functions(
        Compose(pipeline_cfg[:5]),
        Compose(pipeline_cfg[5:]),
        PhotoMetricDistortion(),
        RandomCrop(**crop),
        CopyPaste(),
    )
    theirs = _row_functions(
        seed_ref.Compose(seed_ref.build_seed_pipeline(pipeline_cfg[:5])),
        seed_ref.Compose(seed_ref.build_seed_pipeline(pipeline_cfg[5:])),
        ref.MMDetPhotoMetricDistortion(),
        ref.MMDetRandomCrop(**crop),
        ref.MMDetCopyPaste(),
    )
    sides = dict(detkit=ours, mmdet=theirs)
    clocks = {(row, who): [0.0, 0.0] for row in rows for who in sides}
    n = len(dataset)

    def raw(i: int) -> dict[str, Any]:
        results = {"img_info": dataset.data_infos[i], "ann_info": dataset.get_ann_info(i)}
        dataset.pre_pipeline(results)
        return results

    count = 0
    for r in range(rounds):
        for i in range(n):
            seed = r * n + i
            order = ("detkit", "mmdet") if seed % 2 == 0 else ("mmdet", "detkit")
            for row in rows:
                outs = {}
                for who in order:
                    sample, partner = raw(i), raw((i + 1) % n)
                    np.random.seed(seed)
                    wall, cpu = time.perf_counter(), time.process_time()
                    outs[who] = sides[who][row](sample, partner)
                    clocks[row, who][0] += time.perf_counter() - wall
                    clocks[row, who][1] += time.process_time() - cpu
                _same(outs["detkit"], outs["mmdet"], row)
                del outs
            count += 1
    report = {}
    for row in rows:
        (dk_wall, dk_cpu), (mm_wall, mm_cpu) = clocks[row, "detkit"], clocks[row, "mmdet"]
        report[row] = dict(
            samples=count,
            detkit_samples_per_s=count / dk_wall,
            detkit_samples_per_cpu_s=count / dk_cpu,
            mmdet_samples_per_s=count / mm_wall,
            mmdet_samples_per_cpu_s=count / mm_cpu,
            detkit_ms=dk_cpu / count * 1e3,
            mmdet_ms=mm_cpu / count * 1e3,
            speedup_cpu=mm_cpu / dk_cpu,
            speedup_wall=mm_wall / dk_wall,
        )
    return report
