"""PhotoMetricDistortion / YOLOXHSVRandomAug / CutOut against MMDetection v2.28's code re-stated
here (same numpy draws in the same order), on uint8 and float32 images."""

import cv2
import numpy as np
import pytest

from detkit.data.transforms.photometric_distort import (
    CutOut,
    PhotoMetricDistortion,
    YOLOXHSVRandomAug,
)

from .toy import random_results, toy_results


def _mmdet_photometric(img, bd=32, cr=(0.5, 1.5), sr=(0.5, 1.5), hd=18):
    """mmdet v2.28 PhotoMetricDistortion.__call__ (mmcv.bgr2hsv = cv2 COLOR_BGR2HSV)."""
    img = img.astype(np.float32)
    if np.random.randint(2):
        img += np.random.uniform(-bd, bd)
    mode = np.random.randint(2)
    if mode == 1 and np.random.randint(2):
        img *= np.random.uniform(*cr)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    if np.random.randint(2):
        img[..., 1] *= np.random.uniform(*sr)
    if np.random.randint(2):
        img[..., 0] += np.random.uniform(-hd, hd)
        img[..., 0][img[..., 0] > 360] -= 360
        img[..., 0][img[..., 0] < 0] += 360
    img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if mode == 0 and np.random.randint(2):
        img *= np.random.uniform(*cr)
    if np.random.randint(2):
        img = img[..., np.random.permutation(3)]
    return img


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_photometric_distortion_matches_mmdet_seeded(dtype):
    t = PhotoMetricDistortion()
    for seed in range(64):
        img = random_results(seed)["img"].astype(dtype)
        np.random.seed(seed)
        ref = _mmdet_photometric(img)
        after_ref = np.random.rand()
        np.random.seed(seed)
        out = t({"img": img.copy()})["img"]
        assert np.random.rand() == after_ref  # same number of draws consumed
        assert out.dtype == np.float32 and out.shape == img.shape
        np.testing.assert_array_equal(out, ref)


def test_photometric_distortion_lut_is_bit_exact():
    img = random_results(3)["img"]
    d = dict(
        delta=7.25,
        contrast_first=1.3,
        saturation=None,
        hue=None,
        contrast_last=None,
        permutation=np.array([2, 0, 1]),
    )
    out = PhotoMetricDistortion.apply(img, d)
    ref = (img.astype(np.float32) + np.float32(7.25)) * np.float32(1.3)
    ref = cv2.cvtColor(cv2.cvtColor(ref, cv2.COLOR_BGR2HSV), cv2.COLOR_HSV2BGR)[..., [2, 0, 1]]
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="img_fields"):
        PhotoMetricDistortion()({"img": img, "img_fields": ["img", "img2"]})


def test_yolox_hsv_matches_mmdet_seeded():
    t = YOLOXHSVRandomAug()
    for seed in range(10):
        img = random_results(seed)["img"]
        np.random.seed(seed)
        gains = np.random.uniform(-1, 1, 3) * [5, 30, 30]
        gains *= np.random.randint(0, 2, 3)
        gains = gains.astype(np.int16)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] + gains[1], 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] + gains[2], 0, 255)
        ref = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
        np.random.seed(seed)
        np.testing.assert_array_equal(t({"img": img.copy()})["img"], ref)
    with pytest.raises(TypeError, match="uint8"):
        t({"img": img.astype(np.float32)})


def test_cutout_matches_mmdet_seeded_and_toy():
    for kwargs in (
        dict(n_holes=(1, 4), cutout_shape=[(4, 4), (8, 2)]),
        dict(n_holes=2, cutout_ratio=(0.2, 0.3)),
    ):
        for seed in range(5):
            img = random_results(seed)["img"]
            ref = img.copy()
            np.random.seed(seed)
            lo, hi = (
                kwargs["n_holes"]
                if isinstance(kwargs["n_holes"], tuple)
                else (kwargs["n_holes"],) * 2
            )
            cands = kwargs.get("cutout_shape") or [kwargs["cutout_ratio"]]
            for _ in range(np.random.randint(lo, hi + 1)):
                x1, y1 = np.random.randint(0, 64), np.random.randint(0, 48)
                i = np.random.randint(0, len(cands))
                cw, ch = (
                    cands[i]
                    if "cutout_shape" in kwargs
                    else (int(cands[i][0] * 64), int(cands[i][1] * 48))
                )
                ref[y1 : np.clip(y1 + ch, 0, 48), x1 : np.clip(x1 + cw, 0, 64), :] = (0, 0, 0)
            np.random.seed(seed)
            np.testing.assert_array_equal(CutOut(**kwargs)({"img": img.copy()})["img"], ref)
    np.random.seed(0)
    out = CutOut(n_holes=1, cutout_shape=(4, 2), fill_in=(9, 9, 9))(toy_results())
    assert (out["img"] == 9).sum() > 0 and out["gt_bboxes"].tolist() == [[0, 0, 2, 1]]
    with pytest.raises(ValueError, match="exactly one"):
        CutOut(1)
