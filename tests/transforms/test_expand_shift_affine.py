"""Expand / RandomShift / RandomAffine / SegRescale: hand-worked toy cases, invariants, and
seeded-RNG equivalence with MMDetection v2.28 (draw sequences re-stated from its source)."""

import math

import cv2
import numpy as np
import pytest

from detkit.data.transforms.affine import RandomAffine, RandomShift
from detkit.data.transforms.expand import Expand
from detkit.data.transforms.seg_rescale import SegRescale
from detkit.structures.masks import PolygonMasks

from .toy import copy_results, random_results, toy_results


def test_expand_toy_exact_bitmap_polygon_and_seg():
    for poly in (False, True):
        t = Expand(mean=(1, 2, 3), to_rgb=True, seg_ignore_label=255)
        out = t.apply(toy_results(poly), 4, 6, left=1, top=1)
        assert out["img"].shape == (4, 6, 3) and out["img_shape"] == (4, 6, 3)
        assert out["img"][0, 0].tolist() == [3, 2, 1]  # mean reversed to BGR
        assert out["img"][1:3, 1:5, 0].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
        assert out["gt_bboxes"].tolist() == [[1, 1, 3, 2]] and out["gt_bboxes_ignore"].tolist() == [
            [3, 1, 4, 2]
        ]
        assert out["gt_semantic_seg"][0].tolist() == [255] * 6 and out["gt_semantic_seg"][1, 1] == 1
        bitmap = out["gt_masks"].to_bitmap() if poly else out["gt_masks"]
        assert bitmap.masks.shape == (1, 4, 6)
        if poly:  # polygon Expand (mmdet v2 raises NotImplementedError)
            assert isinstance(out["gt_masks"], PolygonMasks)
            assert out["gt_masks"].masks[0][0].tolist() == [2, 1, 3, 1, 3, 2, 2, 2]
        else:
            assert bitmap.masks[0, 1:3, 1:5].tolist() == [[0, 1, 1, 0], [0, 1, 0, 0]]


def test_expand_seeded_draws_and_seg_error():
    for seed in range(5):
        results = random_results(seed)
        np.random.seed(seed)
        # mmdet v2.28 Expand: uniform(0, 1) > prob -> skip; ratio; left; top
        skip = np.random.uniform(0, 1) > 0.5
        if not skip:
            ratio = np.random.uniform(1, 4)
            left, top = (
                int(np.random.uniform(0, 64 * ratio - 64)),
                int(np.random.uniform(0, 48 * ratio - 48)),
            )
        np.random.seed(seed)
        out = Expand(seg_ignore_label=255)(copy_results(results))
        if skip:
            assert out["img"].shape == (48, 64, 3)
            continue
        assert out["img"].shape == (int(48 * ratio), int(64 * ratio), 3)
        np.testing.assert_array_equal(out["img"][top : top + 48, left : left + 64], results["img"])
        np.testing.assert_array_equal(
            out["gt_bboxes"], results["gt_bboxes"] + [left, top, left, top]
        )
    with pytest.raises(ValueError, match="seg_ignore_label"):
        Expand(prob=1.0)(random_results(0))


def test_random_shift_toy_exact_masks_seg_and_filter():
    for poly in (False, True):
        out = RandomShift(filter_thr_px=0).apply(toy_results(poly), 1, 1)
        assert out["img"][..., 0].tolist() == [[0, 0, 0, 0], [0, 1, 2, 3]]
        assert out["gt_bboxes"].tolist() == [[1, 1, 3, 2]] and out["gt_bboxes_ignore"].tolist() == [
            [3, 1, 4, 2]
        ]
        assert out["gt_semantic_seg"].tolist() == [[255] * 4, [255, 1, 2, 3]]
        bitmap = out["gt_masks"].to_bitmap() if poly else out["gt_masks"]
        if not poly:  # mmdet v2 leaves masks unshifted; detkit moves them with the image
            assert bitmap.masks[0].tolist() == [[0, 0, 0, 0], [0, 0, 1, 1]]
    # filter_thr_px=1 (default): the 1-pixel-high boxes go; no gt box left -> unchanged (mmdet)
    results = toy_results()
    out = RandomShift().apply(results, 1, 1)
    assert out["img"][0, 0, 0] == 1 and out["gt_bboxes"].tolist() == [[0, 0, 2, 1]]


def test_random_shift_seeded_draws_and_invariants():
    for seed in range(6):
        results = random_results(seed)
        np.random.seed(seed)
        shift = np.random.random() < 0.5  # mmdet: random.random() < shift_ratio
        dx, dy = (np.random.randint(-32, 32), np.random.randint(-32, 32)) if shift else (0, 0)
        np.random.seed(seed)
        out = RandomShift()(copy_results(results))
        boxes = results["gt_bboxes"].copy()
        boxes[:, 0::2] = np.clip(boxes[:, 0::2] + dx, 0, 64)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2] + dy, 0, 48)
        keep = ((boxes[:, 2] - boxes[:, 0]) > 1) & ((boxes[:, 3] - boxes[:, 1]) > 1)
        if keep.any():
            np.testing.assert_array_equal(out["gt_bboxes"], boxes[keep])
            np.testing.assert_array_equal(out["gt_masks"].get_bboxes(), boxes[keep])
            assert len(out["gt_labels"]) == keep.sum()


def _mmdet_affine_matrix(t, h, w):
    """mmdet v2.28 RandomAffine.__call__: the six uniform draws and the float32 matrices."""
    height, width = h + t.border[0] * 2, w + t.border[1] * 2
    rot = math.radians(np.random.uniform(-t.max_rotate_degree, t.max_rotate_degree))
    rotation = np.array(
        [[np.cos(rot), -np.sin(rot), 0.0], [np.sin(rot), np.cos(rot), 0.0], [0.0, 0.0, 1.0]],
        np.float32,
    )
    s = np.random.uniform(*t.scaling_ratio_range)
    scaling = np.array([[s, 0.0, 0.0], [0.0, s, 0.0], [0.0, 0.0, 1.0]], np.float32)
    xs, ys = (
        math.radians(np.random.uniform(-t.max_shear_degree, t.max_shear_degree)) for _ in range(2)
    )
    shear = np.array([[1, np.tan(xs), 0.0], [np.tan(ys), 1, 0.0], [0.0, 0.0, 1.0]], np.float32)
    tx = np.random.uniform(-t.max_translate_ratio, t.max_translate_ratio) * width
    ty = np.random.uniform(-t.max_translate_ratio, t.max_translate_ratio) * height
    translate = np.array([[1, 0.0, tx], [0.0, 1, ty], [0.0, 0.0, 1.0]], np.float32)
    return translate @ shear @ rotation @ scaling, s, (height, width)


def test_random_affine_seeded_equivalence_and_masks():
    for seed in range(6):
        for poly in (False, True):
            results = random_results(seed, poly=poly)
            t = RandomAffine(max_rotate_degree=15, border=(-4, 8), skip_filter=False)
            np.random.seed(seed)
            matrix, scale, (height, width) = _mmdet_affine_matrix(t, 48, 64)
            np.random.seed(seed)
            out = t(copy_results(results))
            np.testing.assert_array_equal(
                out["img"],
                cv2.warpPerspective(
                    results["img"], matrix, dsize=(width, height), borderValue=(114,) * 3
                ),
            )
            b = results["gt_bboxes"]
            n = len(b)
            pts = matrix @ np.vstack(
                [b[:, [0, 0, 2, 2]].reshape(-1), b[:, [1, 3, 3, 1]].reshape(-1), np.ones(4 * n)]
            )
            pts = pts[:2] / pts[2]
            ref = np.vstack(
                (
                    pts[0].reshape(n, 4).min(1),
                    pts[1].reshape(n, 4).min(1),
                    pts[0].reshape(n, 4).max(1),
                    pts[1].reshape(n, 4).max(1),
                )
            ).T
            ref[:, [0, 2]] = ref[:, [0, 2]].clip(0, width)
            ref[:, [1, 3]] = ref[:, [1, 3]].clip(0, height)
            keep = (ref[:, 0] < width) & (ref[:, 2] > 0) & (ref[:, 1] < height) & (ref[:, 3] > 0)
            keep &= t.filter_gt_bboxes(b * scale, ref)
            np.testing.assert_allclose(out["gt_bboxes"], ref[keep], rtol=1e-6)
            np.testing.assert_array_equal(out["gt_labels"], results["gt_labels"][keep])
            masks = out["gt_masks"].to_bitmap() if poly else out["gt_masks"]
            assert masks.masks.shape == (keep.sum(), height, width)
            # warped rectangles stay inside their warped hull boxes (1 px for rounding)
            mb = masks.get_bboxes()
            nonempty = masks.masks.any(axis=(1, 2))
            assert (mb[nonempty, :2] >= out["gt_bboxes"][nonempty, :2] - 1).all()
            assert (mb[nonempty, 2:] <= out["gt_bboxes"][nonempty, 2:] + 1).all()
            assert out["gt_semantic_seg"].shape == (height, width)


def test_seg_rescale_exact():
    results = toy_results()
    out = SegRescale(scale_factor=0.5)(results)
    assert out["gt_semantic_seg"].shape == (1, 2)  # int(2 * 0.5 + 0.5), int(4 * 0.5 + 0.5)
    assert out["img"].shape == (2, 4, 3)
    assert SegRescale()(toy_results())["gt_semantic_seg"].shape == (2, 4)
    with pytest.raises(ValueError, match="backend"):
        SegRescale(0.5, backend="pillow")
