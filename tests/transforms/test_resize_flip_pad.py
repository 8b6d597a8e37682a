"""Resize / RandomFlip / Normalize / Pad / MultiScaleFlipAug (MMDetection v2 semantics)."""

import numpy as np
import pytest

from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.resize import Resize
from detkit.data.transforms.test_time import MultiScaleFlipAug
from detkit.structures.masks import BitmapMasks, PolygonMasks

from .toy import random_results, toy_results


def test_resize_range_mode_cityscapes_rule():
    resize = Resize(img_scale=[(2048, 800), (2048, 1024)], keep_ratio=True)
    np.random.seed(0)
    expected_long = np.random.randint(2048, 2049)
    expected_short = np.random.randint(800, 1025)
    np.random.seed(0)
    results = {
        "img": np.zeros((1024, 2048, 3), np.uint8),
        "gt_bboxes": np.array([[100, 100, 2048, 1024]], np.float32),
    }
    out = resize(results)
    assert out["scale"] == (expected_long, expected_short)
    assert out["img"].shape == (expected_short, 2 * expected_short, 3)
    s = expected_short / 1024
    assert out["scale_factor"].dtype == np.float32
    assert np.allclose(
        out["scale_factor"], [2 * expected_short / 2048, s, 2 * expected_short / 2048, s]
    )
    assert np.allclose(out["gt_bboxes"], np.array([[100, 100, 2048, 1024]]) * out["scale_factor"])
    assert out["pad_shape"] == out["img_shape"] == out["img"].shape and out["keep_ratio"]


def test_resize_keep_ratio_size_rule_and_masks():
    results = random_results(seed=0, h=48, w=64)
    out = Resize(img_scale=(100, 30), keep_ratio=True)(results)
    # factor = min(100/64, 30/48) = 0.625 -> (int(64*.625+.5), int(48*.625+.5)) = (40, 30)
    assert out["img"].shape == (30, 40, 3)
    assert out["gt_masks"].masks.shape[1:] == (30, 40)
    assert out["gt_semantic_seg"].shape == (30, 40)
    assert np.allclose(out["scale_factor"], [40 / 64, 30 / 48, 40 / 64, 30 / 48])


def test_resize_value_mode_ratio_range_no_keep_ratio_and_scale_factor():
    np.random.seed(1)
    idx = np.random.randint(2)
    np.random.seed(1)
    out = Resize(img_scale=[(20, 10), (40, 20)], multiscale_mode="value")(
        {"img": np.zeros((10, 20, 3), np.uint8)}
    )
    assert out["scale_idx"] == idx and out["scale"] == [(20, 10), (40, 20)][idx]
    out = Resize(img_scale=(40, 10), keep_ratio=False)(random_results(seed=1, h=48, w=64))
    assert out["img"].shape == (10, 40, 3) and out["gt_masks"].masks.shape == (6, 10, 40)
    np.random.seed(2)
    ratio = np.random.random_sample() * 1.0 + 0.5
    np.random.seed(2)
    out = Resize(img_scale=(64, 48), ratio_range=(0.5, 1.5))(
        {"img": np.zeros((48, 64, 3), np.uint8)}
    )
    assert out["scale"] == (int(64 * ratio), int(48 * ratio))
    out = Resize(img_scale=None)({"img": np.zeros((48, 64, 3), np.uint8), "scale_factor": 0.5})
    assert out["img"].shape == (24, 32, 3)
    with pytest.raises(KeyError, match="both"):
        Resize(img_scale=(64, 48))(
            {"img": np.zeros((4, 4, 3), np.uint8), "scale": (8, 8), "scale_factor": 1.0}
        )


def test_resize_clips_boxes():
    results = {
        "img": np.zeros((10, 20, 3), np.uint8),
        "gt_bboxes": np.array([[0, 0, 25, 12]], np.float32),
    }
    out = Resize(img_scale=(40, 20))(results)
    assert out["gt_bboxes"].tolist() == [[0, 0, 40, 20]]


@pytest.mark.parametrize(
    "direction,box,mask_row0",
    [
        ("horizontal", [2, 0, 4, 1], [0, 1, 1, 0]),
        ("vertical", [0, 1, 2, 2], [0, 1, 0, 0]),
        ("diagonal", [2, 1, 4, 2], [0, 0, 1, 0]),
    ],
)
def test_flip_exact(direction, box, mask_row0):
    out = RandomFlip(flip_ratio=1.0, direction=direction)(toy_results())
    assert out["flip"] is True and out["flip_direction"] == direction
    assert out["gt_bboxes"].tolist() == [box]
    assert out["gt_masks"].masks[0, 0].tolist() == mask_row0
    expected = toy_results()["img"]
    axes = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}[direction]
    assert np.array_equal(out["img"], np.flip(expected, axes))
    assert np.array_equal(out["gt_semantic_seg"], np.flip(expected[..., 0], axes))
    poly = RandomFlip(flip_ratio=1.0, direction=direction)(toy_results(poly=True))["gt_masks"]
    xs, ys = np.array([1, 2, 2, 1.0]), np.array([0, 0, 1, 1.0])
    if direction != "vertical":
        xs = 4 - xs
    if direction != "horizontal":
        ys = 2 - ys
    assert poly.masks[0][0].tolist() == np.stack([xs, ys], 1).reshape(-1).tolist()


def test_flip_ratio_draws():
    assert RandomFlip(flip_ratio=0.0)(toy_results())["flip"] is False
    np.random.seed(3)
    u = np.random.random_sample()
    np.random.seed(3)
    out = RandomFlip(flip_ratio=[0.3, 0.3], direction=["horizontal", "vertical"])(toy_results())
    expected = "horizontal" if u < 0.3 else ("vertical" if u < 0.6 else None)
    assert out["flip_direction"] == expected and out["flip"] == (expected is not None)
    preset = toy_results()
    preset.update(flip=False, flip_direction=None)
    assert np.array_equal(RandomFlip()(preset)["img"], toy_results()["img"])


def test_normalize():
    img = np.array([[[10, 20, 30]]], np.uint8)  # B, G, R
    out = Normalize(mean=[1, 2, 3], std=[2, 4, 5], to_rgb=True)({"img": img})
    assert out["img"].dtype == np.float32
    assert np.allclose(out["img"][0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 5])
    assert out["img_norm_cfg"]["to_rgb"] is True and out["img_norm_cfg"]["mean"].dtype == np.float32
    out = Normalize(mean=[1, 2, 3], std=[1, 1, 1], to_rgb=False)({"img": img})
    assert np.allclose(out["img"][0, 0], [9, 18, 27])
    # per channel on a larger image too (OpenCV 5 reads a (1, 3) mean array as a matrix)
    big = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    out = Normalize(mean=[1, 2, 3], std=[2, 4, 5], to_rgb=True)({"img": big.copy()})
    expected = (big[..., ::-1].astype(np.float64) - [1, 2, 3]) / [2, 4, 5]
    assert np.allclose(out["img"], expected, atol=1e-4)


def test_pad_size_divisor_and_fields():
    results = random_results(seed=0, h=33, w=40)
    out = Pad(size_divisor=32)(results)
    assert out["img"].shape == (64, 64, 3) and out["pad_shape"] == (64, 64, 3)
    assert out["img_shape"] == (33, 40, 3)
    assert out["img"][33:].sum() == 0 and out["img"][:, 40:].sum() == 0
    assert out["gt_masks"].masks.shape == (6, 64, 64)
    assert (out["gt_semantic_seg"][33:] == 255).all()
    assert out["pad_size_divisor"] == 32 and out["pad_fixed_size"] is None
    out = Pad(size=(40, 50))(toy_results(poly=True))
    assert out["img"].shape == (40, 50, 3) and isinstance(out["gt_masks"], PolygonMasks)
    assert out["gt_masks"].height == 40
    out = Pad(pad_to_square=True)(toy_results())
    assert out["img"].shape == (4, 4, 3) and out["pad_fixed_size"] == (4, 4)
    with pytest.raises(ValueError, match="exactly one"):
        Pad(size=(4, 4), size_divisor=32)


def test_multiscale_flip_aug():
    aug = MultiScaleFlipAug(
        transforms=[dict(type="Resize", keep_ratio=True), dict(type="RandomFlip")],
        img_scale=[(20, 10), (40, 20)],
        flip=True,
        flip_direction=["horizontal", "vertical"],
    )
    out = aug({"img": np.zeros((10, 20, 3), np.uint8), "img_fields": ["img"]})
    assert [i.shape[:2] for i in out["img"]] == [(10, 20)] * 3 + [(20, 40)] * 3
    assert out["flip"] == [False, True, True] * 2
    assert out["flip_direction"] == [None, "horizontal", "vertical"] * 2
    single = MultiScaleFlipAug(
        transforms=[dict(type="Resize", keep_ratio=True)], img_scale=(2048, 1024)
    )
    out = single({"img": np.zeros((1024, 2048, 3), np.uint8)})
    assert len(out["img"]) == 1 and out["img"][0].shape == (1024, 2048, 3)
    assert out["flip"] == [False] and out["flip_direction"] == [None]
    with pytest.raises(ValueError, match="exactly one"):
        MultiScaleFlipAug(transforms=[], img_scale=(2, 2), scale_factor=1.0)


def test_bitmap_masks_survive_resize_flip_pad_chain():
    results = random_results(seed=5, h=40, w=60)
    for t in (Resize(img_scale=(120, 80)), RandomFlip(flip_ratio=1.0), Pad(size_divisor=32)):
        results = t(results)
    assert isinstance(results["gt_masks"], BitmapMasks)
    assert results["gt_masks"].masks.shape == (6, 96, 128)
