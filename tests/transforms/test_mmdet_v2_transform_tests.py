"""MMDetection v2's own pipeline tests, ported: ``tests/test_data/test_pipelines/test_transform/
test_transform.py`` of the 2.x line (as in v2.28): ``test_resize``, ``test_flip``,
``test_random_crop``, ``test_min_iou_random_crop``, ``test_pad``, ``test_normalize``,
``test_random_center_crop_pad``, ``test_multi_scale_flip_aug``, ``test_cutout``,
``test_random_shift``, ``test_mosaic`` and ``test_mixup``. mmdet reads ``tests/data/color.jpg``
(288 x 512); a random image of that size stands in (the asserted numbers depend only on the
size). detkit raises ``TypeError``/``ValueError`` where mmdet asserts."""

import copy

import numpy as np
import pytest

from detkit.registry import PIPELINES, build
from detkit.structures.overlaps import bbox_overlaps

H, W = 288, 512
CONFIG_ERRORS = (TypeError, ValueError, KeyError)


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _results(img=None, two_images=False):
    img = _image() if img is None else img
    results = dict(img=img, img_shape=img.shape, ori_shape=img.shape, pad_shape=img.shape)
    results["img_fields"] = ["img"]
    if two_images:
        results["img2"] = img.copy()
        results["img_fields"] = ["img", "img2"]
    return results


def _random_boxes(n, w=W, h=H, seed=0):
    rng = np.random.default_rng(seed)
    boxes = np.concatenate([rng.uniform(0, 0.5, (n, 2)), rng.uniform(0.5, 1, (n, 2))], 1)
    return (boxes * np.array([w, h, w, h])).astype(np.int64).astype(np.float32)


def _t(**cfg):
    return build(cfg, PIPELINES)


def test_resize():
    for bad in (
        dict(img_scale=[1333, 800], keep_ratio=True),
        dict(img_scale=[(1333, 800), (1333, 600)], ratio_range=(0.9, 1.1), keep_ratio=True),
        dict(img_scale=[(1333, 800), (1333, 600)], keep_ratio=True, multiscale_mode="2333"),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="Resize", **bad)
    both = _results()
    both["scale"], both["scale_factor"] = (1333, 800), 1.0
    with pytest.raises(CONFIG_ERRORS):
        _t(type="Resize", img_scale=(1333, 800), keep_ratio=True)(both)
    results = _t(type="Resize", img_scale=(1333, 800), keep_ratio=True)(_results(two_images=True))
    assert np.equal(results["img"], results["img2"]).all()
    results.pop("scale")
    results.pop("scale_factor")
    results = _t(type="Resize", img_scale=(1280, 800), multiscale_mode="value", keep_ratio=False)(
        results
    )
    assert np.equal(results["img"], results["img2"]).all()
    assert results["img_shape"] == (800, 1280, 3)


def test_flip():
    for bad in (
        dict(flip_ratio=1.5),
        dict(flip_ratio=[0.7, 0.8], direction=["horizontal", "vertical"]),
        dict(flip_ratio=[0.4, 0.5]),
        dict(flip_ratio=1.0, direction="horizonta"),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="RandomFlip", **bad)
    flip = _t(type="RandomFlip", flip_ratio=1.0)
    original = _image()
    results = _results(original.copy(), two_images=True)
    results["scale_factor"] = 1.0
    results = flip(results)
    assert np.equal(results["img"], results["img2"]).all()
    results = _t(type="RandomFlip", flip_ratio=1.0)(results)  # flips back
    assert (
        np.equal(results["img"], results["img2"]).all() and np.equal(original, results["img"]).all()
    )
    inverse = {
        "horizontal": (slice(None), slice(None, None, -1)),
        "vertical": (slice(None, None, -1),),
        "diagonal": (slice(None, None, -1), slice(None, None, -1)),
    }
    for cfg in (
        dict(flip_ratio=0.9, direction=["horizontal", "vertical", "diagonal"]),
        dict(flip_ratio=[0.3, 0.3, 0.2], direction=["horizontal", "vertical", "diagonal"]),
    ):
        for seed in range(4):
            np.random.seed(seed)
            out = _t(type="RandomFlip", **cfg)(_results(original.copy()))
            expect = original[inverse[out["flip_direction"]]] if out["flip"] else original
            np.testing.assert_array_equal(out["img"], expect)


def _toy():
    img = np.stack([np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.uint8)] * 3, axis=-1)
    return dict(
        img=img,
        img_shape=img.shape,
        img_fields=["img"],
        bbox_fields=["gt_bboxes", "gt_bboxes_ignore"],
        gt_bboxes=np.array([[0.0, 0.0, 2.0, 1.0]], np.float32),
        gt_bboxes_ignore=np.array([[2.0, 0.0, 3.0, 1.0]], np.float32),
        gt_labels=np.array([1], np.int64),
    )


def test_random_crop():
    with pytest.raises(CONFIG_ERRORS):
        _t(type="RandomCrop", crop_size=(-1, 0))
    results = _results()
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    gt, ignore = _random_boxes(8), _random_boxes(2, seed=1)
    results.update(gt_bboxes=gt, gt_bboxes_ignore=ignore)
    out = _t(type="RandomCrop", crop_size=(H - 20, W - 20))(results)
    assert out["img"].shape[:2] == out["img_shape"][:2] == (H - 20, W - 20)
    assert out["gt_bboxes"].shape[0] == 8 and out["gt_bboxes_ignore"].shape[0] == 2  # all kept

    def area(b):
        return np.prod(b[:, 2:4] - b[:, 0:2], axis=1)

    assert (area(out["gt_bboxes"]) <= area(gt)).all() and (
        area(out["gt_bboxes_ignore"]) <= area(ignore)
    ).all()
    for bad in (
        dict(crop_size=(1, 1), crop_type="unknown"),
        dict(crop_type="relative", crop_size=(0, 0)),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="RandomCrop", **bad)
    for crop_type, size, check in (
        (
            "relative_range",
            (0.3, 0.7),
            lambda h, w: int(2 * 0.3 + 0.5) <= h <= 2 and int(4 * 0.7 + 0.5) <= w <= 4,
        ),
        ("relative", (0.3, 0.7), lambda h, w: (h, w) == (int(2 * 0.3 + 0.5), int(4 * 0.7 + 0.5))),
        ("absolute", (1, 2), lambda h, w: (h, w) == (1, 2)),
        ("absolute_range", (1, 20), lambda h, w: 1 <= h <= 2 and 1 <= w <= 4),
    ):
        out = _t(type="RandomCrop", crop_type=crop_type, crop_size=size, allow_negative_crop=True)(
            _toy()
        )
        assert check(*out["img_shape"][:2]), crop_type


def test_min_iou_random_crop():
    results = _results()
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    gt, ignore = _random_boxes(1, seed=2), _random_boxes(1, seed=3)
    results.update(gt_bboxes=gt, gt_bboxes_ignore=ignore)
    crop = _t(type="MinIoURandomCrop")
    # mmdet asserts a single image field; detkit crops every image field alike
    two = copy.deepcopy(results)
    two["img1"] = two["img"].copy()
    two["img_fields"] = ["img", "img1"]
    np.random.seed(1)
    two = crop(two)
    assert np.array_equal(two["img"], two["img1"])
    for seed in range(6):
        np.random.seed(seed)
        out = crop(copy.deepcopy(results))
        patch = np.array([[0, 0, out["img_shape"][1], out["img_shape"][0]]], np.float32)
        if crop.mode == 1:
            assert (
                np.equal(out["gt_bboxes"], gt).all()
                and np.equal(out["gt_bboxes_ignore"], ignore).all()
            )
        else:
            assert (bbox_overlaps(patch, out["gt_bboxes"]) >= crop.mode).all()
            assert (bbox_overlaps(patch, out["gt_bboxes_ignore"]) >= crop.mode).all()


def test_pad_and_normalize():
    with pytest.raises(CONFIG_ERRORS):
        _t(type="Pad")
    pad = _t(type="Pad", size_divisor=32)
    original = _image()
    results = pad(_results(original.copy(), two_images=True))
    assert np.equal(results["img"], results["img2"]).all()
    assert np.equal(results["img"], original).all()  # 288 x 512 already divisible by 32
    results = pad(_t(type="Resize", img_scale=(1333, 800), keep_ratio=True)(results))
    assert np.equal(results["img"], results["img2"]).all()
    assert results["img"].shape[0] % 32 == 0 and results["img"].shape[1] % 32 == 0
    with pytest.raises(CONFIG_ERRORS):
        _t(type="Pad", size_divisor=32, pad_to_square=True)
    square = _t(type="Pad", pad_to_square=True)(_results())
    assert square["img"].shape[0] == square["img"].shape[1]

    cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    results = _t(type="Normalize", **cfg)(_results(original.copy(), two_images=True))
    assert np.equal(results["img"], results["img2"]).all()
    expect = (original[..., ::-1] - np.array(cfg["mean"])) / np.array(cfg["std"])
    assert np.allclose(results["img"], expect, atol=1e-4)


def test_random_center_crop_pad():
    norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    test_cfg = dict(test_mode=True, test_pad_mode=("logical_or", 127))
    for bad in (
        dict(crop_size=(-1, 0), test_mode=False, test_pad_mode=None),
        dict(crop_size=(511, 511), ratios=1.0, test_mode=False, test_pad_mode=None),
        dict(
            crop_size=(511, 511),
            mean=None,
            std=None,
            to_rgb=None,
            test_mode=False,
            test_pad_mode=None,
        ),
        dict(crop_size=(511, 511), ratios=None, border=None, **norm, **test_cfg),
        dict(crop_size=None, ratios=(0.9, 1.0, 1.1), border=None, **norm, **test_cfg),
        dict(crop_size=None, ratios=None, border=128, **norm, **test_cfg),
        dict(
            crop_size=None,
            ratios=None,
            border=None,
            **norm,
            test_mode=True,
            test_pad_mode=("do_nothing", 100),
        ),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="RandomCenterCropPad", **bad)
    results = _results(_image().astype(np.float32))
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    results.update(gt_bboxes=_random_boxes(8), gt_bboxes_ignore=_random_boxes(2, seed=1))
    test_results = copy.deepcopy(results)
    train = _t(
        type="RandomCenterCropPad",
        crop_size=(H - 20, W - 20),
        ratios=(1.0,),
        border=128,
        **norm,
        test_mode=False,
        test_pad_mode=None,
    )(results)
    assert train["img"].shape[:2] == train["pad_shape"][:2] == (H - 20, W - 20)
    assert train["gt_bboxes"].shape[0] == 8 and train["gt_bboxes_ignore"].shape[0] == 2
    test = _t(
        type="RandomCenterCropPad", crop_size=None, ratios=None, border=None, **norm, **test_cfg
    )(test_results)
    assert test["img"].shape[:2] == test["pad_shape"][:2] == (H | 127, W | 127)
    assert "border" in test


def test_multi_scale_flip_aug():
    resize = [dict(type="Resize")]
    for bad in (
        dict(scale_factor=1.0, img_scale=[(1333, 800)]),
        dict(scale_factor=None, img_scale=None),
        dict(img_scale=[1333, 800]),
        dict(img_scale=[(1333, 800)], flip_direction=1),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="MultiScaleFlipAug", transforms=resize, **bad)
    aug = _t(
        type="MultiScaleFlipAug",
        img_scale=[(1333, 800), (1333, 640)],
        transforms=[dict(type="Resize", keep_ratio=True)],
    )
    out = aug(_results())
    assert [i.shape for i in out["img"]] == [(750, 1333, 3), (640, 1138, 3)]
    assert list(out["img_shape"]) == [(750, 1333, 3), (640, 1138, 3)]
    aug = _t(
        type="MultiScaleFlipAug",
        scale_factor=[0.8, 1.0, 1.2],
        transforms=[dict(type="Resize", keep_ratio=False)],
    )
    out = aug(_results())
    assert [i.shape for i in out["img"]] == [(230, 409, 3), (288, 512, 3), (345, 614, 3)]
    assert list(out["img_shape"]) == [(230, 409, 3), (288, 512, 3), (345, 614, 3)]


def test_cutout():
    for bad in (
        dict(n_holes=(5, 3), cutout_shape=(8, 8)),
        dict(n_holes=(3, 4, 5), cutout_shape=(8, 8)),
        dict(n_holes=1, cutout_shape=8),
        dict(n_holes=1, cutout_ratio=0.2),
        dict(n_holes=1),
        dict(n_holes=1, cutout_shape=(2, 2), cutout_ratio=(0.4, 0.4)),
    ):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="CutOut", **bad)
    img = _image()
    for cfg, darker in (
        (dict(n_holes=1, cutout_shape=(10, 10)), True),
        (dict(n_holes=1, cutout_ratio=(0.8, 0.8)), True),
        (dict(n_holes=(2, 4), cutout_shape=[(10, 10), (15, 15)], fill_in=(255, 255, 255)), False),
        (dict(n_holes=1, cutout_ratio=(0.8, 0.8), fill_in=(255, 255, 255)), False),
    ):
        out = _t(type="CutOut", **cfg)(_results(img.copy()))
        total = out["img"].astype(np.int64).sum()
        assert (
            (total < img.astype(np.int64).sum()) if darker else (total > img.astype(np.int64).sum())
        )


def test_random_shift():
    for bad in (dict(shift_ratio=1.5), dict(max_shift_px=-1)):
        with pytest.raises(CONFIG_ERRORS):
            _t(type="RandomShift", **bad)
    results = _results()
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    gt = _random_boxes(8)
    results.update(
        gt_bboxes=gt, gt_bboxes_ignore=_random_boxes(2, seed=1), gt_labels=np.ones(8, np.int64)
    )
    out = _t(type="RandomShift", shift_ratio=1.0)(results)
    assert out["img"].shape[:2] == (H, W) and out["gt_labels"].shape[0] == out["gt_bboxes"].shape[0]


def _mix_results():
    results = _results()
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    results.update(
        gt_bboxes=_random_boxes(8),
        gt_bboxes_ignore=_random_boxes(2, seed=1),
        gt_labels=np.ones(8, np.int64),
    )
    return results


def test_mosaic_and_mixup():
    """v2 ``test_mosaic`` / ``test_mixup``: img_scale must be a tuple, ``mix_results`` must hold
    the right number of samples; output sizes and dtypes."""
    for name, n in (("Mosaic", 3), ("MixUp", 1)):
        with pytest.raises(CONFIG_ERRORS):
            _t(type=name, img_scale=640)
        transform = _t(type=name, img_scale=(10, 12))
        results = _mix_results()
        with pytest.raises(CONFIG_ERRORS):
            transform(results)
        results["mix_results"] = [copy.deepcopy(results)] * (n + 1)
        with pytest.raises(CONFIG_ERRORS):
            transform(results)
        results["mix_results"] = [copy.deepcopy(_mix_results()) for _ in range(n)]
        out = transform(results)
        assert out["img"].shape[:2] == ((20, 24) if name == "Mosaic" else (H, W))
        assert out["gt_labels"].shape[0] == out["gt_bboxes"].shape[0]
        assert out["gt_labels"].dtype == np.int64 and out["gt_bboxes"].dtype == np.float32
        assert out["gt_bboxes_ignore"].dtype == np.float32
