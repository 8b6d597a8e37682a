"""Rotate / Translate / Shear: exact results on the 2x4 toy sample (MMDetection v2 semantics)."""

import numpy as np
import pytest
import torch

from detkit.data.transforms.geometric import Rotate, Shear, Translate
from detkit.data.transforms.levels import enhance_level_to_value, level_to_value
from detkit.registry import PIPELINES, build
from detkit.structures.masks import PolygonMasks

from .toy import random_results, toy_results

FILL = 128


def _rgb(rows):
    a = np.array(rows, dtype=np.uint8)
    return np.stack([a, a, a], axis=-1)


def test_level_to_magnitude_table():
    assert [Rotate(level=lv).angle for lv in (0, 5, 7, 10)] == [0, 15, 21, 30]
    assert [Translate(level=lv).offset for lv in (0, 5, 7, 10)] == [0, 125, 175, 250]
    assert Translate(level=3, max_translate_offset=10).offset == 3  # int(3.0)
    assert Translate(level=1, max_translate_offset=15).offset == 1  # int(1.5) truncates
    assert Shear(level=10).magnitude == pytest.approx(0.3)
    assert Shear(level=5).magnitude == pytest.approx(0.15)
    assert level_to_value(4, 50) == 20
    assert [enhance_level_to_value(lv) for lv in (0, 5, 10)] == pytest.approx([0.1, 1.0, 1.9])


@pytest.mark.parametrize(
    "cfg",
    [
        dict(level=11),
        dict(level=-1),
        dict(level=5, prob=1.5),
        dict(level=5, img_fill_val=(1, 2)),
        dict(level=5, img_fill_val=300),
    ],
)
def test_invalid_arguments(cfg):
    with pytest.raises((ValueError, TypeError)):
        Rotate(**cfg)


def test_rotate_90_clockwise_exact():
    rotate = build(
        dict(
            type="Rotate",
            level=10,
            max_rotate_angle=90,
            img_fill_val=FILL,
            random_negative_prob=0.0,
            prob=1.0,
        ),
        PIPELINES,
    )
    out = rotate(toy_results())
    assert np.array_equal(out["img"], _rgb([[FILL, 6, 2, FILL], [FILL, 7, 3, FILL]]))
    # box [0,0,2,1] about (1.5, 0.5): corners -> x in [1, 2], y in [-1, 1] -> clipped
    assert out["gt_bboxes"].tolist() == [[1.0, 0.0, 2.0, 1.0]]
    assert out["gt_bboxes"].dtype == np.float32
    assert out["gt_bboxes_ignore"].tolist() == [[1.0, 1.0, 2.0, 2.0]]
    assert out["gt_labels"].tolist() == [1]
    assert out["gt_masks"].masks[0].tolist() == [[0, 1, 1, 0], [0, 0, 1, 0]]
    assert out["gt_semantic_seg"].tolist() == [[255, 6, 2, 255], [255, 7, 3, 255]]
    assert out["img_shape"] == (2, 4, 3)
    poly = rotate(toy_results(poly=True))["gt_masks"]
    assert isinstance(poly, PolygonMasks)
    assert np.allclose(poly.masks[0][0], [2, 0, 2, 1, 1, 1, 1, 0])
    # the polygon rotates about the image centre: it rasterises like the rotated bitmap
    assert np.allclose(poly.get_bboxes(), [[1, 0, 2, 1]])


def test_rotate_counter_clockwise_about_origin():
    rotate = Rotate(
        level=10,
        max_rotate_angle=90,
        center=(0, 0),
        img_fill_val=FILL,
        random_negative_prob=1.0,
        prob=1.0,
    )
    out = rotate(toy_results())
    # counter-clockwise 90 about pixel (0, 0): (x, y) -> (y, -x), so dst(x, 0) = src(0, x)
    assert np.array_equal(out["img"], _rgb([[1, 5, FILL, FILL], [FILL, FILL, FILL, FILL]]))
    assert out["gt_semantic_seg"].tolist() == [[1, 5, 255, 255], [255, 255, 255, 255]]
    # box corners map to y in [-2, ~6e-17] (cos 90 in floating point): clipped to a sliver of
    # positive height, which mmdet keeps too (its matrix has the same rounding)
    assert np.allclose(out["gt_bboxes"], [[0, 0, 1, 0]], atol=1e-6)
    assert len(out["gt_labels"]) == len(out["gt_masks"]) == 1


def test_translate_one_pixel_exact():
    translate = Translate(
        level=10,
        max_translate_offset=1,
        img_fill_val=(10, 20, 30),
        random_negative_prob=0.0,
        prob=1.0,
    )
    out = translate(toy_results())
    expected = np.array(
        [
            [[10, 20, 30], [1, 1, 1], [2, 2, 2], [3, 3, 3]],
            [[10, 20, 30], [5, 5, 5], [6, 6, 6], [7, 7, 7]],
        ],
        dtype=np.uint8,
    )
    assert np.array_equal(out["img"], expected)  # fill per channel, channel 0 first (B)
    assert out["gt_bboxes"].tolist() == [[1.0, 0.0, 3.0, 1.0]]
    assert out["gt_bboxes_ignore"].tolist() == [[3.0, 0.0, 4.0, 1.0]]
    assert out["gt_masks"].masks[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 0]]
    assert out["gt_semantic_seg"].tolist() == [[255, 1, 2, 3], [255, 5, 6, 7]]
    poly = translate(toy_results(poly=True))["gt_masks"]
    assert poly.masks[0][0].tolist() == [2, 0, 3, 0, 3, 1, 2, 1]


def test_translate_vertical_negative_drops_boxes_with_labels_and_masks():
    translate = Translate(
        level=10, max_translate_offset=1, direction="vertical", random_negative_prob=1.0, prob=1.0
    )
    out = translate(toy_results())
    assert np.array_equal(out["img"][0], _rgb([[5, 6, 7, 8]])[0])
    assert np.array_equal(out["img"][1], np.full((4, 3), FILL, np.uint8))
    # box [0,0,2,1] -> y1 = max(0, -1) = 0, y2 = min(2, 0) = 0: zero height -> dropped
    assert out["gt_bboxes"].shape == (0, 4)
    assert out["gt_labels"].shape == (0,)
    assert len(out["gt_masks"]) == 0
    assert out["gt_bboxes_ignore"].shape == (0, 4)


def test_translate_min_size_and_partial_exit():
    results = random_results(seed=3, n=4)
    results["gt_bboxes"] = np.array(
        [[0, 0, 10, 10], [50, 5, 60, 15], [20, 20, 30, 30], [58, 0, 64, 4]], dtype=np.float32
    )
    out = Translate(
        level=10, max_translate_offset=8, random_negative_prob=0.0, prob=1.0, min_size=3
    )(results)
    # boxes -> [8,0,18,10], [58,5,64,15] (w 6), [28,20,38,30], [66,0,64,4] (dropped, w < 0)
    assert out["gt_bboxes"].tolist() == [[8, 0, 18, 10], [58, 5, 64, 15], [28, 20, 38, 30]]
    assert len(out["gt_labels"]) == len(out["gt_masks"]) == 3


def test_prob_zero_and_one():
    for cls in (Rotate, Translate, Shear):
        results = toy_results()
        out = cls(level=10, prob=0.0)(results)
        assert np.array_equal(out["img"], toy_results()["img"])
        changed = cls(level=10, prob=1.0)(toy_results())
        assert not np.array_equal(changed["img"], toy_results()["img"])


def test_probability_draw_then_sign_draw():
    np.random.seed(7)
    draws = np.random.rand(2)
    np.random.seed(7)
    out = Translate(level=10, max_translate_offset=1, prob=1.0, random_negative_prob=0.5)(
        toy_results()
    )
    shifted_right = out["img"][0, 0, 0] == FILL
    assert shifted_right == (draws[1] >= 0.5)


def test_shear_exact_point_and_boxes():
    results = random_results(seed=1, h=10, w=10, n=1)
    results["img"] = np.zeros((10, 10, 3), np.uint8)
    results["img"][2, 1] = 200  # (x=1, y=2)
    results["gt_bboxes"] = np.array([[1, 1, 3, 2]], np.float32)
    out = Shear(
        level=10, max_shear_magnitude=1.0, random_negative_prob=0.0, prob=1.0, img_fill_val=0
    )(results)
    assert np.argwhere(out["img"][..., 0] == 200).tolist() == [[2, 3]]  # x + 1 * y
    # corners (1,1),(3,1),(1,2),(3,2) -> x + y: 2, 4, 3, 5
    assert out["gt_bboxes"].tolist() == [[2.0, 1.0, 5.0, 2.0]]


def test_tensor_image_matches_numpy_within_one_level():
    results = random_results(seed=2)
    tensor_results = random_results(seed=2)
    tensor_results["img"] = torch.from_numpy(tensor_results["img"].copy())
    rotate = Rotate(level=7, img_fill_val=(124, 116, 104), prob=1.0, random_negative_prob=0.0)
    out_np = rotate(results)
    out_t = rotate(tensor_results)
    assert isinstance(out_t["img"], torch.Tensor) and out_t["img"].dtype == torch.uint8
    diff = np.abs(out_t["img"].numpy().astype(int) - out_np["img"].astype(int))
    assert diff.max() <= 1
    assert np.array_equal(out_t["gt_bboxes"], out_np["gt_bboxes"])
