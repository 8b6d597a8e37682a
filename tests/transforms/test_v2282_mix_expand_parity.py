"""The three v2 parity gaps found against a real MMDetection 2.28.2 run, pinned against the
v2.28.2 code re-stated in ``mmdet_reference_mix.py`` / ``mmdet_reference_transforms.py``
(``mmdet/datasets/pipelines/transforms.py`` of the 2.28.2 wheel):

- ``MixUp.__call__``: draws ``jit_factor = uniform(*ratio_range)``, then
  ``is_filp = uniform(0, 1) < flip_ratio`` (2.28.2's line; detkit flipped on ``>``, the
  complement, so every mixed image and box differed), then the y and x ``randint`` offsets;
  ``get_indexes`` draws ``randint(0, len(dataset))`` until the partner has boxes, called by
  ``MultiImageMixDataset.__getitem__`` before the transform.
- ``Expand.__call__``: ``if uniform(0, 1) > prob: return results``, then ratio, left, top.
  detkit's lines were already v2.28.2's; these tests pin the sequence over consecutive calls
  on one generator stream and after ``PhotoMetricDistortion`` (the SSD pipeline order).
- ``CopyPaste.__call__`` / ``get_gt_masks`` / ``gen_masks_from_bboxes``: box-only input gets
  box-filled masks, and the output drops ``gt_masks``.
"""

import copy

import numpy as np
import pytest

from detkit.data.datasets import MultiImageMixDataset
from detkit.data.transforms.copy_paste import CopyPaste, box_masks
from detkit.data.transforms.expand import Expand
from detkit.data.transforms.mix import MixUp
from detkit.data.transforms.photometric_distort import PhotoMetricDistortion

from . import mmdet_reference_mix as ref_mix
from . import mmdet_reference_transforms as ref
from .toy import copy_results, random_results


class ListDataset:
    """Loaded samples (the wrapped dataset of ``MultiImageMixDataset``)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, idx):
        return copy.deepcopy(self.samples[idx])

    def get_ann_info(self, idx):
        return {"bboxes": self.samples[idx]["gt_bboxes"]}


def _boxes_only(results):
    """What ``LoadAnnotations(with_mask=False)`` leaves: no masks, no mask fields."""
    out = copy_results(results)
    out.pop("gt_masks")
    out.pop("mask_fields")
    return out


def _assert_same(out, expect, keys=("img", "gt_bboxes", "gt_labels")):
    for key in keys:
        np.testing.assert_allclose(out[key], expect[key], rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("flip_ratio", [0.5, 0.2, 0.9])
def test_mixup_matches_v2282_draws(flip_ratio):
    flips = set()
    for seed in range(6):
        dst = random_results(seed, h=48, w=64, n=5)
        src = random_results(seed + 40, h=40, w=56, n=7)
        kwargs = dict(img_scale=(48, 64), ratio_range=(0.6, 1.6), flip_ratio=flip_ratio)
        expect_in = copy_results(dst)
        expect_in["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        expect = ref_mix.MMDetMixUp(**kwargs)(expect_in)
        after_ref = np.random.get_state()[2]
        np.random.seed(seed)
        np.random.uniform(0.6, 1.6)
        flips.add(bool(np.random.uniform(0, 1) < flip_ratio))
        results = copy_results(dst)
        results["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        out = MixUp(**kwargs)(results)
        assert np.random.get_state()[2] == after_ref  # same number of draws
        _assert_same(out, expect)
    assert flips == {True, False} or flip_ratio != 0.5


def test_mixup_through_dataset_wrapper_matches_v2282():
    """The partner choice (``get_indexes``, retried past box-less images) and the draws
    after it, through ``MultiImageMixDataset``."""
    samples = [random_results(i, h=40 + 4 * i, w=64, n=4) for i in range(5)]
    samples[1]["gt_bboxes"] = samples[1]["gt_bboxes"][:0]
    samples[1]["gt_labels"] = samples[1]["gt_labels"][:0]
    samples = [_boxes_only(s) for s in samples]
    dataset = ListDataset(samples)
    kwargs = dict(img_scale=(48, 64), ratio_range=(0.8, 1.2), flip_ratio=0.5)
    wrapper = MultiImageMixDataset(dataset, [dict(type="MixUp", **kwargs)])
    for seed in range(8):
        np.random.seed(seed)
        expect = ref_mix.mmdet_mix_dataset_item(dataset, seed % 5, [ref_mix.MMDetMixUp(**kwargs)])
        np.random.seed(seed)
        out = wrapper[seed % 5]
        _assert_same(out, expect)


def test_expand_consecutive_calls_and_after_photometric_distortion():
    kwargs = dict(
        mean=(123.675, 116.28, 103.53), to_rgb=True, ratio_range=(1, 4), seg_ignore_label=255
    )
    for seed in range(4):
        np.random.seed(seed)
        mm = ref_mix.MMDetExpand(**kwargs)
        expected = [mm(copy_results(random_results(k))) for k in range(4)]
        np.random.seed(seed)
        t = Expand(**kwargs)
        outs = [t(copy_results(random_results(k))) for k in range(4)]
        for out, expect in zip(outs, expected):
            _assert_same(out, expect, ("img", "gt_bboxes", "gt_semantic_seg"))
            np.testing.assert_array_equal(out["gt_masks"].masks, expect["gt_masks"].masks)
        # the SSD order: PhotoMetricDistortion, then Expand, on one stream
        np.random.seed(seed)
        expect = mm(ref.MMDetPhotoMetricDistortion()(copy_results(random_results(seed))))
        np.random.seed(seed)
        out = t(PhotoMetricDistortion()(copy_results(random_results(seed))))
        _assert_same(out, expect, ("img", "gt_bboxes"))
    # prob=0 never expands, prob=1 always does (mmdet: uniform(0, 1) > prob skips)
    assert Expand(prob=0.0, seg_ignore_label=0)(random_results(0))["img"].shape == (48, 64, 3)
    assert Expand(prob=1.0, ratio_range=(2, 2), seg_ignore_label=0)(random_results(0))[
        "img"
    ].shape == (96, 128, 3)


def test_box_masks_are_mmdet_rectangles():
    boxes = np.array(
        [[1.7, 0.2, 4.9, 3.0], [2.0, 2.0, 2.5, 6.0], [-0.5, 1.0, 9.0, 2.0]], np.float32
    )
    masks = box_masks(boxes, 5, 6)
    expect = np.zeros((3, 5, 6), np.uint8)
    expect[0, 0:3, 1:4] = 1  # int() truncates
    expect[2, 1:2, 0:9] = 1  # int(-0.5) == 0; the slice stops at the border
    np.testing.assert_array_equal(masks.masks, expect)
    assert masks.rects == [(1, 0, 4, 3), None, (0, 1, 6, 2)]


@pytest.mark.parametrize("missing", ["both", "src", "dst"])
def test_copy_paste_box_only_input_matches_v2282(missing):
    for seed in range(6):
        dst, src = random_results(seed, n=6), random_results(seed + 100, n=6)
        src["gt_bboxes"] = src["gt_bboxes"] + np.float32(0.4)  # fractional: int() truncation
        if missing in ("both", "dst"):
            dst = _boxes_only(dst)
        if missing in ("both", "src"):
            src = _boxes_only(src)
        expect_in = copy_results(dst)
        expect_in["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        expect = ref.MMDetCopyPaste(mask_occluded_thr=10)(expect_in)
        results = copy_results(dst)
        results["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        out = CopyPaste(mask_occluded_thr=10)(results)
        assert "gt_masks" not in out and "gt_masks" not in expect
        np.testing.assert_array_equal(out["img"], expect["img"])
        np.testing.assert_array_equal(out["gt_bboxes"], expect["gt_bboxes"])
        np.testing.assert_array_equal(out["gt_labels"], expect["gt_labels"])


def test_copy_paste_box_only_through_dataset_wrapper():
    samples = [_boxes_only(random_results(i, n=5)) for i in range(4)]
    dataset = ListDataset(samples)
    wrapper = MultiImageMixDataset(dataset, [dict(type="CopyPaste", max_num_pasted=3)])
    for seed in range(4):
        np.random.seed(seed)
        expect = ref_mix.mmdet_mix_dataset_item(
            dataset, seed, [ref.MMDetCopyPaste(max_num_pasted=3)]
        )
        np.random.seed(seed)
        out = wrapper[seed]
        assert "gt_masks" not in out
        _assert_same(out, expect)
    with pytest.raises(KeyError, match="gt_labels"):
        bad = _boxes_only(random_results(0))
        bad.pop("gt_labels")
        bad["mix_results"] = [random_results(1)]
        CopyPaste()(bad)
