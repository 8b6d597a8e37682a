"""v3 transforms against v3's rules (mmdet 3.3 ``datasets/transforms/geometric.py``,
``augment_wrappers.py``; mmcv 2 ``RandomResize``, ``RandomChoice``), and against v2's where
the translator maps a v3 transform onto a v2 one."""

from __future__ import annotations

import numpy as np
import pytest

from detkit.data.transforms import AutoAugment, Resize
from detkit.data.transforms.v3_geometric import RotateV3, ShearXV3, TranslateXV3
from detkit.data.transforms.v3_resize import RandomResizeV3
from detkit.registry import PIPELINES, build
from detkit.structures import BitmapMasks


def _results(h: int = 40, w: int = 60) -> dict:
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    masks = np.zeros((2, h, w), dtype=np.uint8)
    masks[0, 5:15, 5:20] = 1
    masks[1, 20:30, 50:60] = 1
    return dict(
        img=img, img_shape=img.shape, img_fields=["img"],
        gt_bboxes=np.array([[5, 5, 20, 15], [50, 20, 60, 30]], np.float32),
        gt_labels=np.array([0, 1]), bbox_fields=["gt_bboxes"],
        gt_masks=BitmapMasks(masks, h, w), mask_fields=["gt_masks"],
    )  # fmt: skip


def test_v3_names_are_registered_without_taking_v2s():
    assert PIPELINES.get("mmdet3.Rotate") is RotateV3
    assert PIPELINES.get("Rotate").__module__.endswith(".geometric")  # v2's keeps its name
    assert PIPELINES.get("TranslateX") is TranslateXV3 is PIPELINES.get("mmdet3.TranslateX")


def test_rotate_sign_and_rounding_follow_v3():
    np.random.seed(0)
    draws = np.random.rand(3)  # disable draw, sign draw (level given: no magnitude draw)
    np.random.seed(0)
    rotate = RotateV3(prob=1.0, level=7, max_mag=30.0, reversal_prob=0.5)
    assert rotate.magnitude() == (-21.0 if draws[0] > 0.5 else 21.0)
    assert RotateV3(level=1, max_mag=0.77).magnitude() in (0.1, -0.1)  # round(0.077, 1)


def test_translate_is_a_fraction_of_the_width_and_keeps_emptied_boxes():
    results = TranslateXV3(prob=1.0, level=10, max_mag=0.5).apply(_results(), 30.0 / 60.0 * 1)
    assert np.array_equal(results["gt_bboxes"], [[35, 5, 50, 15], [60, 20, 60, 30]])
    assert len(results["gt_labels"]) == 2 and len(results["gt_masks"]) == 2  # v2 would drop one
    assert results["img"][0, 30:].tolist() == _results()["img"][0, :30].tolist()


def test_shear_magnitude_is_in_degrees():
    np.random.seed(1)
    shear = ShearXV3(prob=1.0, level=10, max_mag=45.0, reversal_prob=0.0)
    assert shear.magnitude() == pytest.approx(-1.0)  # tan(45 deg), negated: rand() > 0


def test_random_resize_draws_edges_by_position():
    scales = [(100, 300), (200, 400)]  # (short, long): v2's long/short draw would differ
    np.random.seed(3)
    expected = (np.random.randint(100, 201), np.random.randint(300, 401))
    np.random.seed(3)
    results = RandomResizeV3(scale=scales, keep_ratio=False)(_results())
    assert results["img"].shape[:2] == (expected[1], expected[0])
    np.random.seed(3)
    v2 = Resize(img_scale=scales, keep_ratio=False)(_results())
    assert v2["img"].shape[:2] != results["img"].shape[:2]


def test_auto_augment_prob_draws_as_mmcv_random_choice():
    policies = [
        [dict(type="mmdet3.TranslateX", prob=1.0, level=10)],
        [dict(type="Normalize", mean=[0] * 3, std=[1] * 3)],
    ]
    np.random.seed(4)
    expected = np.random.choice(np.arange(2), p=[0.3, 0.7])
    np.random.seed(4)
    out = AutoAugment(policies, prob=[0.3, 0.7])(_results())
    assert (out["img"].dtype == np.float32) == (expected == 1)
    with pytest.raises(ValueError, match="one probability per policy"):
        AutoAugment(policies, prob=[1.0])
    assert build(dict(type="AutoAugment", policies=policies), PIPELINES).prob is None
