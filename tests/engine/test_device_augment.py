"""``device_augment``: the loader stops after loading and the seed's train pipeline runs on the
device batch inside the training step; through ``train_detector`` both paths give the model the
same batches (one grey level, 1 px boxes, mask IoU >= 0.97 or 3 px) and the same losses."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

STD = np.array([58.395, 57.12, 57.375], np.float32)
SCALES = [(128, 50), (128, 64)]


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("device_aug_sample")
    generate_cityscapes_sample(root, train=4, val=0, test=0, size=(128, 64), seed=5)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("train",))
    return root


def _config(root, work_dir, **options):
    cfg = detkit.Config.fromfile(DEMO_CONFIG)
    prefix = str(root) + "/"
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            "data.train.times": 1,
            "data.train.dataset.ann_file": prefix
            + "annotations/instancesonly_filtered_gtFine_train.json",
            "data.train.dataset.img_prefix": prefix + "leftImg8bit/train/",
            "data.samples_per_gpu": 2,
            "runner": dict(type="EpochBasedRunner", max_epochs=2),
            "total_epochs": 2,
            "lr_config.warmup_iters": 1,
            "lr_config.step": [100],
            "optimizer": dict(type="SGD", lr=0.002, momentum=0.9, weight_decay=1e-4),
            "load_from": None,
            "work_dir": str(work_dir),
            "seed": 0,
            "device": "cpu",
            **options,
        }
    )
    for transform in cfg.data.train.dataset.pipeline:
        if transform["type"] == "Resize":
            transform["img_scale"] = SCALES
    return cfg


def _train(cfg, weights):
    """Train from ``weights`` and record, per step, the batch the model got and its losses."""
    detkit.set_random_seed(0)
    model = detkit.build_detector(
        cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg")
    )
    model.load_state_dict(weights)
    dataset = detkit.build_dataset(cfg.data.train)
    seen, real_step = [], model.train_step

    def recording_step(data, optimizer=None):
        outputs = real_step(data, optimizer)
        masks = [m.masks if hasattr(m, "masks") else m.numpy() for m in data["gt_masks"]]
        seen.append(
            dict(
                img=data["img"].clone().numpy(),
                metas=copy.deepcopy(data["img_metas"]),
                boxes=[b.numpy().copy() for b in data["gt_bboxes"]],
                labels=[lab.tolist() for lab in data["gt_labels"]],
                masks=masks,
                losses=dict(outputs["log_vars"]),
            )
        )
        return outputs

    model.train_step = recording_step
    detkit.train_detector(model, dataset, cfg, validate=False)
    return seen


def _masks_agree(a, b):
    """IoU >= 0.97, counted in pixels: at most 3% of the union differ, or 3 pixels (a tiny mask's
    edge: the CPU path warps with OpenCV's 1/32-pixel fixed-point weights as mmcv, the device
    path with float ones, so a bilinear tap near 0.5 can round either way)."""
    union = np.logical_or(a, b).sum()
    return np.logical_xor(a, b).sum() <= max(3, 0.03 * union)


@pytest.mark.parametrize("workers", [0, 1])
def test_device_path_sees_the_cpu_batches_and_losses(sample_root, tmp_path, workers):
    cpu_cfg = _config(sample_root, tmp_path / "cpu", **{"data.workers_per_gpu": workers})
    dev_cfg = _config(
        sample_root, tmp_path / "dev", **{"data.workers_per_gpu": workers, "device_augment": True}
    )
    detkit.set_random_seed(0)
    model = detkit.build_detector(
        cpu_cfg.model, train_cfg=cpu_cfg.get("train_cfg"), test_cfg=cpu_cfg.get("test_cfg")
    )
    model.init_weights()
    weights = copy.deepcopy(model.state_dict())
    cpu, dev = _train(cpu_cfg, weights), _train(dev_cfg, weights)
    assert len(cpu) == len(dev) == 4
    flips = set()
    for step, (a, b) in enumerate(zip(cpu, dev)):
        assert b["img"].dtype == np.float32 and a["img"].shape == b["img"].shape
        for i, (ma, mb) in enumerate(zip(a["metas"], b["metas"])):
            for key in (
                "img_shape",
                "pad_shape",
                "flip",
                "flip_direction",
                "ori_shape",
                "filename",
            ):
                assert ma[key] == mb[key], (step, i, key)
            np.testing.assert_allclose(ma["scale_factor"], mb["scale_factor"])
            flips.add(ma["flip"])
            h, w = ma["img_shape"][:2]
            grey = np.abs(a["img"][i, :, :h, :w] - b["img"][i, :, :h, :w]) * STD[:, None, None]
            assert grey.max() <= 1.01, (step, i, grey.max())
            assert a["labels"][i] == b["labels"][i]
            assert np.abs(a["boxes"][i] - b["boxes"][i]).max(initial=0) <= 1.0
            assert a["masks"][i].shape == b["masks"][i].shape
            for ka, kb in zip(a["masks"][i], b["masks"][i]):
                assert _masks_agree(ka, kb), (step, i)
        # the RPN sees the batch directly; the RoI stages sample from its proposals, whose
        # order/threshold ties a one-grey-level difference can flip, so they are compared summed
        assert set(a["losses"]) == set(b["losses"])
        for key in ("loss_rpn_cls", "loss_rpn_bbox", "loss"):
            assert b["losses"][key] == pytest.approx(a["losses"][key], rel=0.01, abs=1e-3), (
                step,
                key,
            )
    assert flips == {True, False}  # both flip outcomes were drawn (and matched)


def test_split_keeps_the_dataset_and_names_unsupported_steps(sample_root, tmp_path):
    cfg = _config(sample_root, tmp_path)
    dataset = detkit.build_dataset(cfg.data.train)
    split, device = detkit.data.split_device_augment(dataset)
    assert type(dataset.dataset.pipeline.transforms[-1]).__name__ == "Collect"  # original untouched
    sample = split[0]
    assert sample["img"].data.dtype == torch.uint8 and sample["gt_masks"].data.dtype == torch.uint8
    assert sample["gt_masks"].data.shape[1:] == sample["img"].data.shape[1:] == (64, 128)
    batch = detkit.engine.scatter(
        detkit.data.collate([split[0], split[1]], samples_per_gpu=2), "cpu"
    )
    assert sum(len(m) for m in batch["gt_masks"]) == sum(len(x) for x in batch["gt_labels"])
    out = device(batch)
    assert out["img"].dtype == torch.float32 and out["img"].shape[-1] % 32 == 0
    assert all(
        m.shape[1:] == tuple(meta["pad_shape"][:2])
        for m, meta in zip(out["gt_masks"], out["img_metas"])
    )

    cfg.data.train.dataset.pipeline.insert(3, dict(type="PhotoMetricDistortion"))
    with pytest.raises((ValueError, KeyError), match="PhotoMetricDistortion|device_augment"):
        detkit.data.split_device_augment(detkit.build_dataset(cfg.data.train))
    with pytest.raises(TypeError, match="device_augment must be"):
        detkit.train_detector(
            None, dataset, _config(sample_root, tmp_path, device_augment="yes"), validate=False
        )


def test_mask_targets_from_tensor_masks_equal_bitmap_masks():
    from detkit.models.roi_heads.mask_head import mask_targets
    from detkit.models.task_modules import AssignResult, SamplingResult
    from detkit.structures.masks import BitmapMasks

    gen = torch.Generator().manual_seed(0)
    masks = (torch.rand((3, 40, 60), generator=gen) > 0.4).to(torch.uint8)
    gt_boxes = torch.tensor(
        [[2.0, 3.0, 30.0, 25.0], [10.0, 5.0, 58.0, 39.0], [0.0, 0.0, 20.0, 20.0]]
    )
    proposals = torch.cat(
        [gt_boxes + 1.5, torch.tensor([[-5.0, -3.0, 70.0, 45.0], [5.5, 6.25, 17.75, 33.0]])]
    )
    gt_inds = torch.tensor([1, 2, 3, 2, 1])
    assign = AssignResult(3, gt_inds, torch.ones(5), torch.zeros(5, dtype=torch.long))
    sampling = SamplingResult(
        torch.arange(5),
        torch.zeros(0, dtype=torch.long),
        proposals,
        gt_boxes,
        assign,
        torch.zeros(5, dtype=torch.uint8),
    )
    for binarize in (True, False):
        from_tensor = mask_targets([sampling], [masks], 28, binarize=binarize)
        from_bitmap = mask_targets(
            [sampling], [BitmapMasks(masks.numpy(), 40, 60)], 28, binarize=binarize
        )
        assert from_tensor.shape == (5, 28, 28) and from_tensor.dtype == torch.float32
        torch.testing.assert_close(from_tensor, from_bitmap, rtol=0, atol=1e-6)


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_04_device_augment_parameter(tmp_path, run_notebook):
    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=4, val=2, test=0, size=(128, 64), seed=11)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    work_dir = tmp_path / "work"
    run = run_notebook(
        "04_train_and_evaluate.ipynb",
        config=DEMO_CONFIG,
        data_root=str(root),
        work_dir=str(work_dir),
        max_epochs=1,
        times=1,
        img_scale=[128, 64],
        samples_per_gpu=2,
        device_augment=True,
        cfg_options=TINY_DEMO_OPTIONS,
    )
    assert "augmentation on the cpu batch" in run.text
    (log,) = work_dir.glob("*.log")
    assert "device_augment: loaders stop after loading" in log.read_text()
    assert (work_dir / "latest.pth").exists()
