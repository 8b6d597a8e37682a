"""AutoAugment selection and the seed config's train pipeline end to end."""

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

import detkit
import detkit.data.transforms.flip  # noqa: F401  (registers)
import detkit.data.transforms.geometric  # noqa: F401
import detkit.data.transforms.normalize  # noqa: F401
import detkit.data.transforms.pad  # noqa: F401
import detkit.data.transforms.photometric  # noqa: F401
import detkit.data.transforms.resize  # noqa: F401
from detkit.data.transforms.compose import Compose
from detkit.data.transforms.policies import AutoAugment
from detkit.registry import PIPELINES, build

from .toy import random_results

SEED_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"


def test_autoaugment_picks_one_policy_uniformly():
    aug = AutoAugment(
        [
            [dict(type="BrightnessTransform", level=0, prob=1.0)],  # -> factor 0.1
            [dict(type="BrightnessTransform", level=10, prob=1.0)],  # -> factor 1.9
        ]
    )
    picks = []
    np.random.seed(0)
    expected = []
    for _ in range(200):  # the policy choice, then the chosen transform's prob draw
        expected.append(int(np.random.choice(2)))
        np.random.rand()
    np.random.seed(0)
    for _ in range(200):
        out = aug({"img": np.full((1, 1, 3), 100, np.uint8)})
        picks.append(int(out["img"][0, 0, 0] > 100))
    assert picks == expected
    assert 60 < sum(picks) < 140


def test_autoaugment_validation():
    with pytest.raises(ValueError, match="non-empty"):
        AutoAugment([])
    with pytest.raises(ValueError, match=r"policies\[0\]"):
        AutoAugment([[]])
    with pytest.raises(KeyError, match="type"):
        AutoAugment([[dict(level=3)]])


def test_autoaugment_returns_none_when_a_transform_does():
    aug = AutoAugment([[lambda results: None, dict(type="EqualizeTransform", prob=1.0)]])
    assert aug(random_results()) is None


def test_seed_train_pipeline_builds_and_runs(tmp_path):
    cfg = detkit.Config.fromfile(SEED_CONFIG)
    pipeline = Compose(cfg.train_pipeline)
    h, w = 256, 512
    sample = random_results(seed=0, h=h, w=w, n=5)
    cv2.imwrite(str(tmp_path / "img.png"), sample["img"])
    segms = []
    for mask in sample["gt_masks"].masks:
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle["counts"] = rle["counts"].decode()
        segms.append(rle)
    ann_info = dict(
        bboxes=sample["gt_bboxes"],
        labels=sample["gt_labels"],
        masks=segms,
        bboxes_ignore=np.zeros((0, 4), np.float32),
    )
    for seed in range(4):
        np.random.seed(seed)
        results = dict(
            img_prefix=str(tmp_path),
            img_info=dict(filename="img.png", height=h, width=w),
            ann_info=ann_info,
            bbox_fields=[],
            mask_fields=[],
            seg_fields=[],
        )
        out = pipeline(results)
        img = out["img"].data if hasattr(out["img"], "data") else out["img"]
        assert isinstance(img, torch.Tensor) and img.dtype == torch.float32 and img.shape[0] == 3
        assert img.shape[1] % 32 == 0 and img.shape[2] % 32 == 0
        boxes = out["gt_bboxes"].data if hasattr(out["gt_bboxes"], "data") else out["gt_bboxes"]
        labels = out["gt_labels"].data if hasattr(out["gt_labels"], "data") else out["gt_labels"]
        masks = out["gt_masks"].data if hasattr(out["gt_masks"], "data") else out["gt_masks"]
        assert len(boxes) == len(labels) == len(masks)
        assert masks.masks.shape[1:] == tuple(img.shape[1:])
        meta = out["img_metas"].data if hasattr(out["img_metas"], "data") else out["img_metas"]
        short = meta["img_shape"][0]
        assert 800 <= short <= 1024 and meta["img_shape"][1] == 2 * short  # (2048, 800..1024) rule


def test_every_policy_is_registered():
    for name in (
        "Rotate",
        "Translate",
        "Shear",
        "ColorTransform",
        "BrightnessTransform",
        "ContrastTransform",
        "EqualizeTransform",
        "AutoAugment",
    ):
        assert name in PIPELINES
    assert build(dict(type="mmdet.Rotate", level=3), PIPELINES).angle == 9
