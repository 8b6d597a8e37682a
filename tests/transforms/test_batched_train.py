"""Batched seed train pipeline (AutoAugment -> Resize -> RandomFlip -> Normalize -> Pad) on a
tensor batch == the per-sample pipeline for the same seed."""

import numpy as np
import torch

from detkit.data.transforms.batched_train import batched_train_transforms, draw_train
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize

from .test_batched import SEED_POLICIES, _to_batch
from .toy import copy_results, random_results

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def test_batched_train_matches_per_sample_pipeline():
    aug = AutoAugment(SEED_POLICIES)
    resize = Resize(img_scale=[(128, 50), (128, 64)], keep_ratio=True)
    flip = RandomFlip(flip_ratio=0.5)
    normalize, pad = Normalize(**NORM), Pad(size_divisor=32)
    samples = [
        random_results(seed=i, h=h, w=w, n=5)
        for i, (h, w) in enumerate([(48, 96), (40, 80), (50, 100)])
    ]
    for seed in range(3):
        np.random.seed(seed)
        reference = []
        for s in samples:
            results = copy_results(s)
            for t in (aug, resize, flip, normalize, pad):
                results = t(results)
            reference.append(results)
        np.random.seed(seed)
        draws = draw_train(aug, resize, flip, len(samples))
        images, hw, inst = _to_batch(samples)
        out = batched_train_transforms(images, hw, inst, draws, resize, normalize, pad)
        assert out.images.dtype == torch.float32 and out.images.shape[-1] % 32 == 0
        for i, ref in enumerate(reference):
            meta = out.img_metas[i]
            assert meta["img_shape"] == ref["img_shape"] and meta["pad_shape"] == ref["pad_shape"]
            assert meta["flip_direction"] == ref["flip_direction"]
            assert np.allclose(meta["scale_factor"], ref["scale_factor"])
            ph, pw = ref["pad_shape"][:2]
            got = out.images[i, :, :ph, :pw].permute(1, 2, 0).numpy()
            grey_levels = np.abs(got - ref["img"]) * np.array(NORM["std"], np.float32)
            assert grey_levels.max() <= 1.01  # within one grey level of the uint8 path
            assert np.allclose(out.instances.boxes[i].numpy(), ref["gt_bboxes"], atol=1e-3)
            assert out.instances.labels[i].tolist() == ref["gt_labels"].tolist()
            got_masks = out.instances.masks[i].numpy()
            assert got_masks.shape == ref["gt_masks"].masks.shape
            assert np.mean(got_masks != ref["gt_masks"].masks) < 0.002
