"""Colour / Brightness / Contrast / Equalize against OpenCV references (mmcv's formulas)."""

import cv2
import numpy as np
import pytest

from detkit.data.transforms.photometric import (
    BrightnessTransform,
    ColorTransform,
    ContrastTransform,
    EqualizeTransform,
    equalize,
)

from .toy import random_results


def _img(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (20, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize("level", [0, 3, 5, 10])
def test_color_matches_cv2_add_weighted(level):
    img = _img()
    f = level / 10 * 1.8 + 0.1
    gray = np.tile(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None], (1, 1, 3))
    expected = cv2.addWeighted(img, f, gray, 1 - f, 0)
    out = ColorTransform(level=level, prob=1.0)({"img": img.copy()})
    assert np.array_equal(out["img"], expected)


@pytest.mark.parametrize("level", [0, 4, 10])
def test_brightness_and_contrast_formulas(level):
    img = _img(1)
    f = np.float32(level / 10 * 1.8 + 0.1)
    zeros = np.zeros_like(img, dtype=np.float32)
    expected = np.clip(cv2.addWeighted(img.astype(np.float32), f, zeros, 1 - f, 0), 0, 255).astype(
        np.uint8
    )
    assert np.array_equal(
        BrightnessTransform(level=level, prob=1.0)({"img": img.copy()})["img"], expected
    )
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    mean = round(gray.sum() / gray.size)
    degenerated = np.full_like(img, mean).astype(np.float32)
    expected = np.clip(
        cv2.addWeighted(img.astype(np.float32), f, degenerated, 1 - f, 0), 0, 255
    ).astype(np.uint8)
    out = ContrastTransform(level=level, prob=1.0)({"img": img.copy()})["img"]
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_level_five_is_identity_for_enhancements():
    img = _img(2)
    for cls in (ColorTransform, BrightnessTransform, ContrastTransform):
        assert np.array_equal(cls(level=5, prob=1.0)({"img": img.copy()})["img"], img)


def test_equalize_lut():
    img = np.zeros((2, 4, 3), np.uint8)
    img[..., 0] = [[0, 0, 100, 100], [100, 200, 200, 200]]
    img[..., 1] = 7  # constant channel: unchanged
    out = EqualizeTransform(prob=1.0)({"img": img.copy()})["img"]
    # histogram 0:2, 100:3, 200:3 -> step = (8 - 3) // 255 = 0 -> unchanged (PIL rule)
    assert np.array_equal(out, img)
    big = np.repeat(np.arange(256, dtype=np.uint8), 4).reshape(32, 32, 1).repeat(3, 2) // 2
    eq = equalize(big)
    assert eq[..., 0].min() == 0 and eq[..., 0].max() >= 250
    assert np.all(np.diff(np.unique(eq[..., 0]).astype(int)) > 0)


def test_photometric_leave_geometry_untouched_and_prob_zero():
    results = random_results(seed=4)
    before = results["img"].copy()
    boxes = results["gt_bboxes"].copy()
    out = ColorTransform(level=9, prob=0.0)(results)
    assert np.array_equal(out["img"], before)
    out = ColorTransform(level=9, prob=1.0)(results)
    assert np.array_equal(out["gt_bboxes"], boxes)
    with pytest.raises(TypeError, match="uint8"):
        BrightnessTransform(level=3, prob=1.0)({"img": np.zeros((2, 2, 3), np.float32)})
