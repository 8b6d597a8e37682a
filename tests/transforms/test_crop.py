"""RandomCrop / MinIoURandomCrop / RandomCenterCropPad: hand-worked toy crops, invariants, and
seeded-RNG equivalence with MMDetection v2.28's ``mmdet/datasets/pipelines/transforms.py``
(the draw sequences are re-stated here from that source)."""

import numpy as np
import pytest

from detkit.data.transforms.center_crop_pad import RandomCenterCropPad
from detkit.data.transforms.crop import MinIoURandomCrop, RandomCrop, box_iou

from .toy import copy_results, random_results, toy_results


def _assert_masks_match_boxes(results):
    """Rectangular toy instances: each mask's tight box equals its (clipped) box."""
    boxes = results["gt_bboxes"]
    assert len(boxes) == len(results["gt_labels"]) == len(results["gt_masks"])
    h, w = results["img"].shape[:2]
    assert (results["gt_masks"].height, results["gt_masks"].width) == (h, w)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    bitmaps = results["gt_masks"]
    bitmaps = bitmaps.to_bitmap() if hasattr(bitmaps, "to_bitmap") else bitmaps
    np.testing.assert_allclose(bitmaps.get_bboxes(), boxes, atol=1)


def test_random_crop_toy_exact_bitmap_polygon_ignore_and_seg():
    for poly in (False, True):
        out = RandomCrop((2, 2)).apply(toy_results(poly), 1, 0, 2, 2)
        assert out["img"][..., 0].tolist() == [[2, 3], [6, 7]] and out["img_shape"] == (2, 2, 3)
        assert out["gt_bboxes"].tolist() == [[0, 0, 1, 1]]  # [0,0,2,1] - 1 in x
        assert out["gt_bboxes_ignore"].tolist() == [[1, 0, 2, 1]]
        assert out["gt_semantic_seg"].tolist() == [[2, 3], [6, 7]]
        if poly:
            assert out["gt_masks"].masks[0][0].tolist() == [0, 0, 1, 0, 1, 1, 0, 1]
        else:
            assert out["gt_masks"].masks[0].tolist() == [[1, 1], [1, 0]]


def test_random_crop_drops_boxes_outside_and_negative_crop():
    # v2 pins: a box with x2 <= x1 after the clip is dropped with its label and mask; when no
    # gt box survives and allow_negative_crop=False the transform returns None.
    out = RandomCrop((2, 1), allow_negative_crop=True).apply(toy_results(), 3, 0, 1, 2)
    assert len(out["gt_bboxes"]) == 0 and len(out["gt_labels"]) == 0 and len(out["gt_masks"]) == 0
    assert RandomCrop((2, 1)).apply(toy_results(), 3, 0, 1, 2) is None


def _mmdet_crop_draws(crop_size, crop_type, h, w):
    """mmdet v2.28 RandomCrop._get_crop_size + _crop_data offsets, same numpy calls."""
    if crop_type == "absolute":
        ch, cw = min(crop_size[0], h), min(crop_size[1], w)
    elif crop_type == "absolute_range":
        ch = np.random.randint(min(h, crop_size[0]), min(h, crop_size[1]) + 1)
        cw = np.random.randint(min(w, crop_size[0]), min(w, crop_size[1]) + 1)
    elif crop_type == "relative":
        ch, cw = int(h * crop_size[0] + 0.5), int(w * crop_size[1] + 0.5)
    else:
        size = np.asarray(crop_size, dtype=np.float32)
        rh, rw = size + np.random.rand(2) * (1 - size)
        ch, cw = int(h * rh + 0.5), int(w * rw + 0.5)
    off_h = np.random.randint(0, max(h - ch, 0) + 1)
    off_w = np.random.randint(0, max(w - cw, 0) + 1)
    return off_w, off_h, cw, ch


@pytest.mark.parametrize(
    "crop_size,crop_type",
    [
        ((20, 30), "absolute"),
        ((16, 40), "absolute_range"),
        ((0.5, 0.7), "relative"),
        ((0.3, 0.6), "relative_range"),
    ],
)
def test_random_crop_seeded_equivalence_and_invariants(crop_size, crop_type):
    for seed in range(6):
        for poly in (False, True):
            results = random_results(seed, poly=poly)
            np.random.seed(seed)
            x1, y1, cw, ch = _mmdet_crop_draws(crop_size, crop_type, 48, 64)
            np.random.seed(seed)
            out = RandomCrop(crop_size, crop_type, allow_negative_crop=True)(copy_results(results))
            assert out["img"].shape[:2] == (min(ch, 48 - y1), min(cw, 64 - x1))
            np.testing.assert_array_equal(out["img"], results["img"][y1 : y1 + ch, x1 : x1 + cw])
            ref = results["gt_bboxes"] - np.array([x1, y1, x1, y1], np.float32)
            ref[:, 0::2] = ref[:, 0::2].clip(0, out["img"].shape[1])
            ref[:, 1::2] = ref[:, 1::2].clip(0, out["img"].shape[0])
            keep = (ref[:, 2] > ref[:, 0]) & (ref[:, 3] > ref[:, 1])
            np.testing.assert_array_equal(out["gt_bboxes"], ref[keep])
            np.testing.assert_array_equal(out["gt_labels"], results["gt_labels"][keep])
            _assert_masks_match_boxes(out)


def test_random_crop_recompute_bbox_from_masks_and_errors():
    results = toy_results()
    results["gt_masks"].masks[0, 0, 0] = 0
    out = RandomCrop((2, 4), recompute_bbox=True).apply(results, 0, 0, 4, 2)
    assert out["gt_bboxes"].tolist() == [[1, 0, 3, 2]]  # tight box of the mask, not the annotation
    with pytest.raises(ValueError, match="crop_type"):
        RandomCrop((1, 1), crop_type="bogus")
    with pytest.raises(ValueError, match="positive ints"):
        RandomCrop((0.5, 0.5), crop_type="absolute")


def _mmdet_min_iou_patch(sample_mode, min_crop_size, boxes, h, w):
    """mmdet v2.28 MinIoURandomCrop draw loop (including ``uniform(w - new_w)``: low=w-new_w,
    high=1); returns the patch or None for mode 1."""
    while True:
        mode = np.random.choice(sample_mode)
        if mode == 1:
            return None
        for _ in range(50):
            new_w = np.random.uniform(min_crop_size * w, w)
            new_h = np.random.uniform(min_crop_size * h, h)
            if new_h / new_w < 0.5 or new_h / new_w > 2:
                continue
            left = np.random.uniform(w - new_w)
            top = np.random.uniform(h - new_h)
            patch = np.array((int(left), int(top), int(left + new_w), int(top + new_h)))
            if patch[2] == patch[0] or patch[3] == patch[1]:
                continue
            overlaps = box_iou(patch.reshape(-1, 4), boxes).reshape(-1)
            if len(overlaps) > 0 and overlaps.min() < mode:
                continue
            center = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = (
                (center[:, 0] > patch[0])
                * (center[:, 1] > patch[1])
                * (center[:, 0] < patch[2])
                * (center[:, 1] < patch[3])
            )
            if len(overlaps) > 0 and not inside.any():
                continue
            return patch


def test_min_iou_random_crop_seeded_equivalence_and_invariants():
    for seed in range(8):
        results = random_results(seed, n=3)
        t = MinIoURandomCrop(min_ious=(0.0, 0.1), min_crop_size=0.5)
        np.random.seed(seed)
        patch = _mmdet_min_iou_patch(t.sample_mode, 0.5, results["gt_bboxes"], 48, 64)
        np.random.seed(seed)
        out = t(copy_results(results))
        if patch is None:
            assert out["img"].shape == results["img"].shape
            continue
        x1, y1, x2, y2 = patch
        np.testing.assert_array_equal(out["img"], results["img"][y1:y2, x1:x2])
        assert out["img_shape"] == out["img"].shape
        _assert_masks_match_boxes(out)


def test_min_iou_crop_toy_and_box_iou():
    # v2 pins: boxes whose centre is strictly inside the patch are kept, clipped, shifted.
    out = MinIoURandomCrop().apply(toy_results(), np.array([0, 0, 2, 2]))
    assert out["gt_bboxes"].tolist() == [[0, 0, 2, 1]]  # centre (1, 0.5) inside
    assert out["gt_bboxes_ignore"].shape == (0, 4)  # centre x 2.5 is not < 2
    assert out["gt_masks"].masks[0].tolist() == [[0, 1], [0, 1]]
    out = MinIoURandomCrop().apply(toy_results(), np.array([1, 0, 4, 2]))
    assert out["gt_bboxes_ignore"].tolist() == [[1, 0, 2, 1]] and len(out["gt_bboxes"]) == 0
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [5, 5, 6, 6]]))
    np.testing.assert_allclose(iou, [[1 / 7, 0]])


def _mmdet_center_crop_pad(results, crop_size, ratios, border, mean):
    """mmdet v2.28 RandomCenterCropPad._train_aug (images and gt boxes), same draws."""
    img, boxes = results["img"], results["gt_bboxes"]
    h, w = img.shape[:2]

    def get_border(b, size):
        k = 2 * b / size
        return b // pow(2, np.ceil(np.log2(np.ceil(k))) + (k == int(k)))

    while True:
        scale = np.random.choice(ratios)
        new_h, new_w = int(crop_size[0] * scale), int(crop_size[1] * scale)
        hb, wb = get_border(border, h), get_border(border, w)
        for _ in range(50):
            cx = np.random.randint(low=wb, high=w - wb)
            cy = np.random.randint(low=hb, high=h - hb)
            x0, x1 = max(0, cx - new_w // 2), min(cx + new_w // 2, w)
            y0, y1 = max(0, cy - new_h // 2), min(cy + new_h // 2, h)
            center = (boxes[:, :2] + boxes[:, 2:]) / 2
            mask = (
                (center[:, 0] > x0)
                * (center[:, 1] > y0)
                * (center[:, 0] < x1)
                * (center[:, 1] < y1)
            )
            if not mask.any() and len(boxes) > 0:
                continue
            canvas = np.zeros((new_h, new_w, 3), np.float32) + np.array(mean, np.float32)
            ccy, ccx = new_h // 2, new_w // 2
            canvas[ccy - (cy - y0) : ccy + (y1 - cy), ccx - (cx - x0) : ccx + (x1 - cx)] = img[
                y0:y1, x0:x1
            ]
            b = boxes[mask].copy()
            b[:, 0:4:2] += ccx - (cx - x0) - x0
            b[:, 1:4:2] += ccy - (cy - y0) - y0
            b[:, 0:4:2] = b[:, 0:4:2].clip(0, new_w)
            b[:, 1:4:2] = b[:, 1:4:2].clip(0, new_h)
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            return canvas, b[keep], results["gt_labels"][mask][keep]


def test_random_center_crop_pad_seeded_equivalence_masks_and_seg():
    mean = [10, 20, 30]
    for seed in range(6):
        for poly in (False, True):
            results = random_results(seed, poly=poly)
            results["img"] = results["img"].astype(np.float32)
            t = RandomCenterCropPad(
                crop_size=(40, 40),
                ratios=(0.8, 1.0, 1.2),
                border=16,
                mean=mean,
                std=[1, 1, 1],
                to_rgb=False,
                test_pad_mode=None,
            )
            np.random.seed(seed)
            ref_img, ref_boxes, ref_labels = _mmdet_center_crop_pad(
                results, (40, 40), (0.8, 1.0, 1.2), 16, mean
            )
            np.random.seed(seed)
            out = t(copy_results(results))
            np.testing.assert_array_equal(out["img"], ref_img)
            np.testing.assert_array_equal(out["gt_bboxes"], ref_boxes)
            np.testing.assert_array_equal(out["gt_labels"], ref_labels)
            assert out["pad_shape"] == out["img"].shape == out["gt_semantic_seg"].shape + (3,)
            _assert_masks_match_boxes(out)


def test_random_center_crop_pad_test_mode_and_errors():
    results = toy_results()
    results["img"] = results["img"].astype(np.float32)
    t = RandomCenterCropPad(
        crop_size=None,
        ratios=None,
        border=None,
        mean=[0, 0, 0],
        std=[1, 1, 1],
        to_rgb=True,
        test_mode=True,
        test_pad_mode=("logical_or", 127),
    )
    out = t(results)
    assert out["img"].shape == (127, 127, 3) and out["img_shape"] == (2, 4, 3)
    assert out["border"].tolist() == [62, 64, 61, 65]  # centre (1, 2) pasted at (63, 63)
    with pytest.raises(TypeError, match="float32"):
        t(toy_results())
    with pytest.raises(ValueError, match="test_pad_mode must be None"):
        RandomCenterCropPad(crop_size=(8, 8), mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True)
