"""The mmdet v2.28 re-statements bench/pipeline.py times against give detkit's outputs (so the
bench compares the same work): PhotoMetricDistortion, RandomCrop, CopyPaste and the seed
config's train_pipeline, seeded; and the bench's end-to-end rows run on a tiny sample."""

from pathlib import Path

import numpy as np
import pytest
import torch

from detkit.data.transforms.copy_paste import CopyPaste
from detkit.data.transforms.crop import RandomCrop
from detkit.data.transforms.photometric_distort import PhotoMetricDistortion

from . import mmdet_reference_transforms as ref
from .toy import copy_results, random_results


def _mmdet_masks(results):
    results["gt_masks"] = ref.BitmapMasks(results["gt_masks"].masks, *results["img"].shape[:2])
    return results


def test_reference_transforms_match_detkit():
    for seed in range(6):
        dst, src = random_results(seed, n=8), random_results(seed + 20, n=8)
        for ours, theirs in (
            (
                RandomCrop((0.5, 0.5), "relative_range", allow_negative_crop=True),
                ref.MMDetRandomCrop((0.5, 0.5), "relative_range", allow_negative_crop=True),
            ),
            (PhotoMetricDistortion(), ref.MMDetPhotoMetricDistortion()),
            (CopyPaste(mask_occluded_thr=20), ref.MMDetCopyPaste(mask_occluded_thr=20)),
        ):
            a = dict(copy_results(dst), mix_results=[copy_results(src)])
            b = _mmdet_masks(dict(copy_results(dst), mix_results=[_mmdet_masks(copy_results(src))]))
            np.random.seed(seed)
            out_a = ours(a)
            np.random.seed(seed)
            out_b = theirs(b)
            np.testing.assert_array_equal(out_a["img"], out_b["img"])
            np.testing.assert_array_equal(out_a["gt_bboxes"], out_b["gt_bboxes"])
            np.testing.assert_array_equal(out_a["gt_labels"], out_b["gt_labels"])
            np.testing.assert_array_equal(out_a["gt_masks"].masks, out_b["gt_masks"].masks)


def _tiny_seed_dataset(tmp_path, images):
    """The seed config's train_pipeline with Resize scaled down, and a raw (pipeline-free)
    dataset of ``images`` generated 256x128 Cityscapes samples."""
    import detkit
    from detkit.data import build_dataset, convert_cityscapes
    from detkit.data.synthetic import generate_cityscapes_sample

    configs = Path(__file__).resolve().parents[2] / "configs" / "cityscapes"
    config = configs / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
    pipeline = [dict(c) for c in detkit.Config.fromfile(str(config)).train_pipeline]
    next(c for c in pipeline if c["type"] == "Resize")["img_scale"] = [(256, 100), (256, 128)]
    root = tmp_path / "cityscapes"
    generate_cityscapes_sample(root, train=images, val=0, size=(256, 128), seed=5, instances=(3, 9))
    convert_cityscapes(root, out_dir=root / "annotations", splits=("train",), show_progress=False)
    ann_file = root / "annotations" / "instancesonly_filtered_gtFine_train.json"
    dataset = build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(ann_file),
            img_prefix=str(root / "leftImg8bit/train/"),
            pipeline=[],
        )
    )
    return pipeline, dataset


def test_reference_seed_pipeline_matches_detkit(tmp_path):
    """The seed config's train_pipeline (load, AutoAugment Rotate/Translate, Resize, RandomFlip,
    Normalize, Pad, formatting) re-stated from mmdet v2.28 gives detkit's tensors, boxes, labels,
    masks and shapes bit for bit, seeded, with masks warped through both OpenCV paths (5+ and
    1/3/4 instances); the rest of the config is scaled down (Resize to 256x128-ish)."""
    from detkit.data.transforms.compose import Compose

    from . import mmdet_reference_seed as seed_ref

    pipeline, dataset = _tiny_seed_dataset(tmp_path, images=4)
    ours, theirs = Compose(pipeline), seed_ref.Compose(seed_ref.build_seed_pipeline(pipeline))
    counts = set()
    for seed in range(8):
        for i in range(len(dataset)):
            outs = []
            for pipe in (ours, theirs):
                results = {"img_info": dataset.data_infos[i], "ann_info": dataset.get_ann_info(i)}
                dataset.pre_pipeline(results)
                np.random.seed(seed)
                outs.append(pipe(results))
            a, b = outs
            counts.add(len(b["gt_labels"]))
            assert torch.equal(a["img"].data, b["img"])
            assert torch.equal(a["gt_bboxes"].data, b["gt_bboxes"])
            assert torch.equal(a["gt_labels"].data, b["gt_labels"])
            np.testing.assert_array_equal(a["gt_masks"].data.masks, b["gt_masks"].masks)
            for key in ("img_shape", "pad_shape", "ori_shape", "flip"):
                assert a["img_metas"].data[key] == b["img_metas"][key]
            np.testing.assert_array_equal(
                a["img_metas"].data["scale_factor"], b["img_metas"]["scale_factor"]
            )
    assert max(counts) >= 5 and counts & {1, 3, 4}, counts


def test_bench_rows_run_end_to_end(tmp_path):
    """bench/pipeline_rows.py's three rows (each side's outputs checked equal inside) on a tiny
    sample."""
    import importlib.util

    bench = Path(__file__).resolve().parents[2] / "bench" / "pipeline_rows.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline_rows", bench)
    rows_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rows_module)
    pipeline, dataset = _tiny_seed_dataset(tmp_path, images=2)
    rows = rows_module.time_rows(dataset, pipeline, rounds=1, crop_size=(96, 192))
    assert list(rows) == list(rows_module.ROWS)
    for row in rows.values():
        assert row["samples"] == len(dataset) and row["detkit_ms"] > 0 and row["mmdet_ms"] > 0
        assert row["speedup_cpu"] == pytest.approx(row["mmdet_ms"] / row["detkit_ms"])
