"""The mmdet v2.28 re-statements bench/pipeline.py times against give detkit's outputs (so the
bench compares the same work): PhotoMetricDistortion, RandomCrop, CopyPaste, seeded."""

import numpy as np

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
        for ours, theirs in ((RandomCrop((0.5, 0.5), "relative_range", allow_negative_crop=True),
                              ref.MMDetRandomCrop((0.5, 0.5), "relative_range", allow_negative_crop=True)),
                             (PhotoMetricDistortion(), ref.MMDetPhotoMetricDistortion()),
                             (CopyPaste(mask_occluded_thr=20), ref.MMDetCopyPaste(mask_occluded_thr=20))):
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
