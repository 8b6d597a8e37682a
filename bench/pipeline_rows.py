"""Rows of bench/pipeline.py for the issue-15 transforms: the seed pipeline plus
PhotoMetricDistortion + RandomCrop, and that plus CopyPaste, detkit beside MMDetection v2.28's
code for the added steps (re-stated in tests/transforms/mmdet_reference_transforms.py).

Per sample, the same loaded-and-augmented input (copied) goes through detkit's added steps and
through mmdet's, in alternating order, each after ``np.random.seed(i)`` so both draw the same
crop, colours and pasted objects; the outputs are checked equal. The seed part (loading,
AutoAugment, Resize, RandomFlip, Normalize, Pad, formatting) is timed once, with detkit.

mmdet's samples/s for a row is estimated as ``1 / (1 / 3.4 + partner + added_mmdet)``: 3.4
samples/s is mmdet v2's own seed pipeline on this data (bench/pipeline.py), ``added_mmdet``
the measured time of its added steps and, for CopyPaste, ``partner`` the time of loading and
augmenting the second image *with detkit* (mmdet's is slower, so the estimate favours mmdet).
"""

from __future__ import annotations

import copy
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.transforms.compose import Compose
from detkit.data.transforms.copy_paste import CopyPaste
from detkit.data.transforms.crop import RandomCrop
from detkit.data.transforms.photometric_distort import PhotoMetricDistortion

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "transforms" / "mmdet_reference_transforms.py"
CROP = dict(crop_size=(800, 1600), crop_type="absolute", allow_negative_crop=True)


def _reference() -> Any:
    spec = importlib.util.spec_from_file_location("mmdet_reference_transforms", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _timed(fn: Any, arg: Any, clock: dict[str, float], seed: int) -> Any:
    np.random.seed(seed)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(arg)
    clock["wall"] += time.perf_counter() - wall
    clock["cpu"] += time.process_time() - cpu
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    if not (np.array_equal(a["gt_bboxes"], b["gt_bboxes"]) and np.array_equal(a["gt_labels"], b["gt_labels"])
            and np.array_equal(a["img"], b["img"]) and np.array_equal(a["gt_masks"].masks, b["gt_masks"].masks)):
        raise AssertionError("detkit and mmdet outputs differ: the bench would compare different work")


def time_rows(dataset: Any, pipeline_cfg: list[dict], rounds: int, mmdet_seed_rate: float) -> dict[str, Any]:
    """Both rows over ``rounds`` passes of ``dataset`` (whose pipeline is empty: raw infos)."""
    ref = _reference()
    pre = Compose(pipeline_cfg[:5])  # load, annotations, AutoAugment, Resize, RandomFlip
    tail = Compose(pipeline_cfg[5:])  # Normalize, Pad, DefaultFormatBundle, Collect
    ours = dict(pmd=PhotoMetricDistortion(), crop=RandomCrop(**CROP), paste=CopyPaste())
    theirs = dict(pmd=ref.MMDetPhotoMetricDistortion(), crop=ref.MMDetRandomCrop(**CROP), paste=ref.MMDetCopyPaste())
    clocks = {name: {"wall": 0.0, "cpu": 0.0} for name in
              ("pre", "tail", "detkit_row1", "mmdet_row1", "detkit_row2", "mmdet_row2")}
    n = len(dataset)

    def load(i: int) -> dict[str, Any]:
        results = {"img_info": dataset.data_infos[i], "ann_info": dataset.get_ann_info(i)}
        dataset.pre_pipeline(results)
        return _timed(pre, results, clocks["pre"], 1000 + i)

    count = 0
    for r in range(rounds):
        for i in range(n):
            seed = r * n + i
            sample, partner = load(i), load((i + 1) % n)
            order = ("detkit", "mmdet") if seed % 2 == 0 else ("mmdet", "detkit")
            outs: dict[str, Any] = {}
            for who in order:
                t = ours if who == "detkit" else theirs
                a, b = copy.deepcopy(sample), copy.deepcopy(partner)
                if who == "mmdet":  # mmdet's own mask class (view crops), not detkit's
                    for x in (a, b):
                        x["gt_masks"] = ref.BitmapMasks(x["gt_masks"].masks, *x["img"].shape[:2])
                outs[who + "1"] = _timed(lambda x, t=t: t["crop"](t["pmd"](x)), copy.deepcopy(a),
                                         clocks[f"{who}_row1"], seed)

                def row2(x: dict[str, Any], t: dict[str, Any] = t) -> dict[str, Any]:
                    x["mix_results"] = [t["crop"](x.pop("partner"))]
                    x = t["paste"](t["crop"](x))
                    x.pop("mix_results")
                    return t["pmd"](x)

                outs[who + "2"] = _timed(row2, dict(a, partner=b), clocks[f"{who}_row2"], seed)
            _same(outs["detkit1"], outs["mmdet1"])
            _same(outs["detkit2"], outs["mmdet2"])
            _timed(tail, outs["detkit2"], clocks["tail"], seed)
            count += 1

    def per(name: str, key: str = "cpu") -> float:
        return clocks[name][key] / count

    rows = {}
    for row, name, loads in ((1, "seed+PhotoMetricDistortion+RandomCrop", 1), (2, "+CopyPaste", 2)):
        seed_part = {k: per("pre", k) / 2 * loads + per("tail", k) for k in ("wall", "cpu")}
        detkit = {k: 1.0 / (seed_part[k] + per(f"detkit_row{row}", k)) for k in ("wall", "cpu")}
        partner = per("pre") / 2 if loads == 2 else 0.0
        mmdet = 1.0 / (1.0 / mmdet_seed_rate + partner + per(f"mmdet_row{row}"))
        rows[name] = dict(
            samples=count, detkit_samples_per_s=detkit["wall"], detkit_samples_per_cpu_s=detkit["cpu"],
            mmdet_estimate_samples_per_s=mmdet, added_ms_detkit=per(f"detkit_row{row}") * 1e3,
            added_ms_mmdet=per(f"mmdet_row{row}") * 1e3, speedup_added=per(f"mmdet_row{row}") / per(f"detkit_row{row}"),
            speedup_vs_mmdet_cpu=detkit["cpu"] / mmdet)
    return rows
