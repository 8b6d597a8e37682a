"""Batched AutoAugment on a padded tensor batch == per-sample path for the same random draws."""

import numpy as np
import pytest
import torch

import detkit.data.transforms.resize  # noqa: F401  (registers Resize)
from detkit.data.transforms.batched import (
    BatchedInstances,
    apply_autoaugment_batched,
    autoaugment_batch,
    draw_autoaugment,
)
from detkit.data.transforms.policies import AutoAugment

from .toy import copy_results, random_results

FILL = (124, 116, 104)
SEED_POLICIES = [
    [dict(type="Rotate", level=5, img_fill_val=FILL, prob=0.5, scale=1)],
    [
        dict(type="Rotate", level=7, img_fill_val=FILL),
        dict(type="Translate", level=5, prob=0.5, img_fill_val=FILL, max_translate_offset=40),
    ],
]
ALL_POLICIES = SEED_POLICIES + [
    [dict(type="Shear", level=6, prob=0.8), dict(type="ColorTransform", level=8, prob=0.7)],
    [
        dict(type="BrightnessTransform", level=3, prob=0.9),
        dict(
            type="Translate",
            level=4,
            direction="vertical",
            max_translate_offset=30,
            prob=0.9,
            min_size=2,
        ),
    ],
    [
        dict(type="ContrastTransform", level=8, prob=0.9),
        dict(type="EqualizeTransform", prob=0.9),
        dict(type="Shear", level=3, direction="vertical", interpolation="nearest", prob=0.9),
    ],
]
SIZES = [(40, 60), (48, 64), (30, 50), (48, 40)]


def _samples(seed):
    return [random_results(seed=seed * 10 + i, h=h, w=w, n=5) for i, (h, w) in enumerate(SIZES)]


def _to_batch(samples, device="cpu"):
    pad_h = max(s["img"].shape[0] for s in samples)
    pad_w = max(s["img"].shape[1] for s in samples)
    images = torch.zeros((len(samples), 3, pad_h, pad_w), dtype=torch.uint8)
    masks = []
    for i, s in enumerate(samples):
        h, w = s["img"].shape[:2]
        images[i, :, :h, :w] = torch.from_numpy(s["img"]).permute(2, 0, 1)
        m = torch.zeros((len(s["gt_masks"]), pad_h, pad_w), dtype=torch.uint8)
        m[:, :h, :w] = torch.from_numpy(s["gt_masks"].masks)
        masks.append(m.to(device))
    inst = BatchedInstances(
        [torch.from_numpy(s["gt_bboxes"]).to(device) for s in samples],
        [torch.from_numpy(s["gt_labels"]).to(device) for s in samples],
        masks,
    )
    return images.to(device), [s["img"].shape[:2] for s in samples], inst


def _compare(samples, reference, images, inst, exact=False, tie_fraction=0.0):
    """``tie_fraction``: share of pixels allowed to differ by more than 1 (nearest-neighbour
    ties at exact half-pixel positions round differently in OpenCV and grid_sample)."""
    for i, (s, ref) in enumerate(zip(samples, reference)):
        h, w = s["img"].shape[:2]
        got = images[i, :, :h, :w].permute(1, 2, 0).cpu().numpy().astype(int)
        diff = np.abs(got - ref["img"].astype(int))
        if exact:
            assert diff.max() == 0, f"sample {i}: max diff {diff.max()}"
        else:
            assert np.mean(diff > 1) <= tie_fraction, f"sample {i}: max diff {diff.max()}"
        assert images[i, :, h:, :].sum() == 0 and images[i, :, :, w:].sum() == 0  # padding stays 0
        assert np.allclose(inst.boxes[i].cpu().numpy(), ref["gt_bboxes"], atol=1e-4)
        assert inst.labels[i].cpu().tolist() == ref["gt_labels"].tolist()
        got_masks = inst.masks[i][:, :h, :w].cpu().numpy()
        assert got_masks.shape == ref["gt_masks"].masks.shape
        mismatch = np.mean(got_masks != ref["gt_masks"].masks) if got_masks.size else 0.0
        assert mismatch == 0 if exact else mismatch < 0.005


@pytest.mark.parametrize("policies", [SEED_POLICIES, ALL_POLICIES], ids=["seed", "all"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_equals_per_sample_on_cpu(policies, seed):
    aug = AutoAugment(policies)
    samples = _samples(seed)
    np.random.seed(seed)
    reference = [aug(copy_results(s)) for s in samples]
    np.random.seed(seed)
    images, hw, inst = _to_batch(samples)
    out_images, out_inst = autoaugment_batch(aug, images, hw, inst)
    assert out_images.dtype == torch.uint8
    # the seed's policies (bilinear only) agree within one grey level everywhere
    _compare(
        samples,
        reference,
        out_images,
        out_inst,
        tie_fraction=0.0 if policies is SEED_POLICIES else 0.01,
    )


@pytest.mark.parametrize(
    "cfg",
    [
        dict(
            type="Rotate",
            level=10,
            max_rotate_angle=90,
            prob=1.0,
            random_negative_prob=0.0,
            img_fill_val=FILL,
        ),
        dict(
            type="Translate", level=10, max_translate_offset=7, prob=1.0, random_negative_prob=1.0
        ),
        dict(type="Translate", level=10, max_translate_offset=5, direction="vertical", prob=1.0),
    ],
)
def test_batched_exact_for_right_angles_and_integer_shifts(cfg):
    aug = AutoAugment([[cfg]])
    # odd sizes make the 90-degree centre land on pixel centres only when h - w is even
    samples = [
        random_results(seed=i, h=h, w=w, n=4) for i, (h, w) in enumerate([(40, 60), (30, 50)])
    ]
    np.random.seed(5)
    reference = [aug(copy_results(s)) for s in samples]
    np.random.seed(5)
    images, hw, inst = _to_batch(samples)
    out_images, out_inst = autoaugment_batch(aug, images, hw, inst)
    _compare(samples, reference, out_images, out_inst, exact=True)


def test_draws_consume_rng_like_per_sample_path():
    aug = AutoAugment(ALL_POLICIES)
    np.random.seed(11)
    draws = draw_autoaugment(aug, 6)
    after = np.random.rand()
    np.random.seed(11)
    for i in range(6):
        aug(random_results(seed=i, h=20, w=20, n=2))
    assert np.random.rand() == after
    assert all(step.transform in sum(aug.transforms, []) for d in draws for step in d)


def test_unsupported_transform_in_batched_path():
    aug = AutoAugment([[dict(type="Resize", img_scale=(10, 10))]])
    with pytest.raises(TypeError, match="Resize"):
        draw_autoaugment(aug, 1)


def test_shape_mismatch_is_reported():
    images, hw, inst = _to_batch(_samples(0))
    with pytest.raises(ValueError, match="batch of 4"):
        apply_autoaugment_batched(images, hw[:2], inst, [[]] * 4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batched_on_cuda_matches_cpu():
    aug = AutoAugment(ALL_POLICIES)
    samples = _samples(3)
    np.random.seed(3)
    draws = draw_autoaugment(aug, len(samples))
    cpu_images, hw, cpu_inst = _to_batch(samples)
    gpu_images, _, gpu_inst = _to_batch(samples, "cuda")
    out_cpu, inst_cpu = apply_autoaugment_batched(cpu_images, hw, cpu_inst, draws)
    out_gpu, inst_gpu = apply_autoaugment_batched(gpu_images, hw, gpu_inst, draws)
    assert out_gpu.is_cuda
    assert (out_gpu.cpu().int() - out_cpu.int()).abs().max() <= 1
    for a, b in zip(inst_cpu.boxes, inst_gpu.boxes):
        assert torch.allclose(a, b.cpu(), atol=1e-3)


def test_batched_with_an_empty_sample():
    aug = AutoAugment(SEED_POLICIES)
    samples = _samples(4)
    samples[1]["gt_bboxes"] = np.zeros((0, 4), np.float32)
    samples[1]["gt_labels"] = np.zeros((0,), np.int64)
    samples[1]["gt_masks"] = samples[1]["gt_masks"][np.zeros(0, dtype=np.int64)]
    for seed in range(4):
        np.random.seed(seed)
        reference = [aug(copy_results(s)) for s in samples]
        np.random.seed(seed)
        images, hw, inst = _to_batch(samples)
        out_images, out_inst = autoaugment_batch(aug, images, hw, inst)
        _compare(samples, reference, out_images, out_inst)
        assert len(out_inst.boxes[1]) == 0 and out_inst.masks[1].shape[0] == 0


def test_batched_without_masks():
    aug = AutoAugment(SEED_POLICIES)
    samples = _samples(5)
    np.random.seed(5)
    reference = [aug(copy_results(s)) for s in samples]
    np.random.seed(5)
    images, hw, inst = _to_batch(samples)
    out_images, out_inst = autoaugment_batch(
        aug, images, hw, BatchedInstances(inst.boxes, inst.labels)
    )
    assert out_inst.masks is None
    for i, ref in enumerate(reference):
        assert np.allclose(out_inst.boxes[i].numpy(), ref["gt_bboxes"], atol=1e-4)
        assert out_inst.labels[i].tolist() == ref["gt_labels"].tolist()
