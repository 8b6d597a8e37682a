"""Contract harness every augmentation transform passes (torchvision ``check_transform`` style):
results-dict types kept, lengths in step, no degenerate boxes left, deterministic under a seed,
picklable."""

import pickle

import numpy as np
import pytest

import detkit.data.transforms.flip  # noqa: F401  (registers)
import detkit.data.transforms.geometric  # noqa: F401
import detkit.data.transforms.pad  # noqa: F401
import detkit.data.transforms.photometric  # noqa: F401
import detkit.data.transforms.policies  # noqa: F401
import detkit.data.transforms.resize  # noqa: F401
from detkit.registry import PIPELINES, build
from detkit.structures.masks import BitmapMasks, PolygonMasks

from .toy import copy_results, random_results

FILL = (124, 116, 104)
TRANSFORMS = [
    dict(type="Rotate", level=7, img_fill_val=FILL, prob=1.0),
    dict(type="Rotate", level=10, max_rotate_angle=90, center=(5, 5), scale=0.8, prob=1.0),
    dict(type="Translate", level=5, img_fill_val=FILL, max_translate_offset=40, prob=1.0),
    dict(
        type="Translate",
        level=10,
        direction="vertical",
        max_translate_offset=30,
        prob=1.0,
        min_size=2,
    ),
    dict(type="Shear", level=8, prob=1.0),
    dict(type="Shear", level=4, direction="vertical", prob=1.0, interpolation="nearest"),
    dict(type="ColorTransform", level=8, prob=1.0),
    dict(type="BrightnessTransform", level=2, prob=1.0),
    dict(type="ContrastTransform", level=9, prob=1.0),
    dict(type="EqualizeTransform", prob=1.0),
    dict(
        type="AutoAugment",
        policies=[
            [dict(type="Rotate", level=5, img_fill_val=FILL, prob=0.5, scale=1)],
            [
                dict(type="Rotate", level=7, img_fill_val=FILL),
                dict(type="Translate", level=5, prob=0.5, img_fill_val=FILL),
            ],
        ],
    ),
    dict(type="Resize", img_scale=[(80, 40), (80, 60)], keep_ratio=True),
    dict(type="RandomFlip", flip_ratio=0.5, direction=["horizontal", "vertical", "diagonal"]),
    dict(type="Pad", size_divisor=32),
    # issue 15: the rest of mmdet v2's single-image transforms that keep a uint8 image
    dict(
        type="RandomCrop",
        crop_size=(0.5, 0.6),
        crop_type="relative_range",
        allow_negative_crop=True,
    ),
    dict(
        type="RandomCrop",
        crop_size=(20, 40),
        crop_type="absolute_range",
        allow_negative_crop=True,
        recompute_bbox=True,
    ),
    dict(type="MinIoURandomCrop", min_crop_size=0.5),
    dict(type="Expand", mean=FILL, ratio_range=(1, 3), seg_ignore_label=255, prob=1.0),
    dict(type="RandomShift", shift_ratio=1.0, max_shift_px=16),
    dict(
        type="RandomAffine",
        max_rotate_degree=20,
        max_shear_degree=5,
        border_val=FILL,
        skip_filter=False,
    ),
    dict(type="CutOut", n_holes=(1, 4), cutout_ratio=[(0.1, 0.2), (0.3, 0.1)]),
    dict(type="YOLOXHSVRandomAug"),
]
IDS = [f"{i}-{t['type']}" for i, t in enumerate(TRANSFORMS)]


def _check_contract(out, n_before):
    img = out["img"]
    assert (
        isinstance(img, np.ndarray)
        and img.dtype == np.uint8
        and img.ndim == 3
        and img.shape[2] == 3
    )
    boxes, labels, masks = out["gt_bboxes"], out["gt_labels"], out["gt_masks"]
    assert (
        isinstance(boxes, np.ndarray)
        and boxes.dtype == np.float32
        and boxes.ndim == 2
        and boxes.shape[1] == 4
    )
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.ndim == 1
    assert len(boxes) == len(labels) == len(masks) <= n_before
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    h, w = out["img_shape"][:2]
    assert np.all(boxes >= 0) and np.all(boxes[:, 0::2] <= w) and np.all(boxes[:, 1::2] <= h)
    pad_h, pad_w = out.get("pad_shape", img.shape)[:2]
    assert (masks.height, masks.width) == (pad_h, pad_w) == img.shape[:2]
    if isinstance(masks, BitmapMasks):
        assert masks.masks.dtype == np.uint8 and masks.masks.shape == (len(boxes), pad_h, pad_w)
    assert (
        out["gt_semantic_seg"].shape == img.shape[:2] and out["gt_semantic_seg"].dtype == np.uint8
    )


@pytest.mark.parametrize("poly", [False, True], ids=["bitmap", "polygon"])
@pytest.mark.parametrize("cfg", TRANSFORMS, ids=IDS)
def test_transform_contract(cfg, poly):
    transform = build(cfg, PIPELINES)
    for seed in range(3):
        results = random_results(seed=seed, poly=poly)
        n = len(results["gt_bboxes"])
        np.random.seed(seed)
        out = transform(copy_results(results))
        mask_type = PolygonMasks if poly else BitmapMasks
        assert isinstance(out["gt_masks"], mask_type)
        _check_contract(out, n)
        np.random.seed(seed)
        again = transform(copy_results(results))
        assert np.array_equal(again["img"], out["img"])
        assert np.array_equal(again["gt_bboxes"], out["gt_bboxes"])
        assert np.array_equal(again["gt_masks"].to_ndarray(), out["gt_masks"].to_ndarray())
    clone = pickle.loads(pickle.dumps(transform))
    assert repr(clone) == repr(transform)


def test_boxes_leaving_image_are_dropped_with_labels_and_masks():
    results = random_results(seed=0, h=48, w=64, n=3)
    results["gt_bboxes"] = np.array(
        [[0, 0, 10, 10], [30, 30, 40, 40], [54, 10, 64, 20]], np.float32
    )
    results["gt_labels"] = np.array([3, 4, 5], np.int64)
    bitmaps = np.zeros((3, 48, 64), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(results["gt_bboxes"].astype(int)):
        bitmaps[i, y1:y2, x1:x2] = 1
    results["gt_masks"] = BitmapMasks(bitmaps, 48, 64)
    out = build(
        dict(
            type="Translate", level=10, max_translate_offset=20, prob=1.0, random_negative_prob=1.0
        ),
        PIPELINES,
    )(results)
    # shifted left by 20: box 0 leaves (x2 = -10), boxes 1, 2 stay
    assert out["gt_labels"].tolist() == [4, 5]
    assert out["gt_bboxes"].tolist() == [[10, 30, 20, 40], [34, 10, 44, 20]]
    assert out["gt_masks"].masks.shape[0] == 2
    assert out["gt_masks"].masks[0, 30:40, 10:20].all() and out["gt_masks"].areas.tolist() == [
        100,
        100,
    ]


@pytest.mark.parametrize("poly", [False, True], ids=["bitmap", "polygon"])
@pytest.mark.parametrize("cfg", TRANSFORMS, ids=IDS)
def test_transform_on_sample_without_instances(cfg, poly):
    results = random_results(seed=0, poly=poly)
    results["gt_bboxes"] = np.zeros((0, 4), np.float32)
    results["gt_labels"] = np.zeros((0,), np.int64)
    results["gt_masks"] = PolygonMasks([], 48, 64) if poly else BitmapMasks([], 48, 64)
    np.random.seed(0)
    out = build(cfg, PIPELINES)(results)
    _check_contract(out, 0)
