"""collate (padding, per-image lists, test-time dict of lists), group samplers, build_dataloader."""

import numpy as np
import pytest
import torch

from detkit.data import build_dataloader, build_dataset
from detkit.data.loaders import DistributedGroupSampler, GroupSampler, collate
from detkit.structures import BitmapMasks


class _Flagged(torch.utils.data.Dataset):
    def __init__(self, flags):
        self.flag = np.array(flags, dtype=np.uint8)

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, idx):
        return idx


def _sample(h, w, n):
    return {"img": torch.ones(3, h, w), "img_metas": {"img_shape": (h, w, 3)},
            "gt_bboxes": torch.zeros(n, 4), "gt_labels": torch.zeros(n, dtype=torch.int64),
            "gt_masks": BitmapMasks(np.zeros((n, h, w), np.uint8), h, w)}


def test_collate_pads_bottom_right_and_keeps_lists():
    batch = collate([_sample(4, 6, 2), _sample(5, 3, 0)])
    assert batch["img"].shape == (2, 3, 5, 6)
    assert batch["img"][0, :, 4, :].abs().sum() == 0 and batch["img"][0, :, :4, :].min() == 1
    assert batch["img"][1, :, :, 3:].abs().sum() == 0
    assert [b.shape for b in batch["gt_bboxes"]] == [(2, 4), (0, 4)]
    assert [m.masks.shape for m in batch["gt_masks"]] == [(2, 4, 6), (0, 5, 3)]
    assert batch["img_metas"][1]["img_shape"] == (5, 3, 3)
    seg = collate([{"gt_semantic_seg": torch.zeros(1, 2, 2, dtype=torch.uint8)},
                   {"gt_semantic_seg": torch.zeros(1, 3, 2, dtype=torch.uint8)}])["gt_semantic_seg"]
    assert seg.shape == (2, 1, 3, 2) and seg[0, 0, 2].tolist() == [255, 255]


def test_collate_test_time_dict_of_lists():
    sample = {"img": [torch.ones(3, 4, 4), torch.ones(3, 8, 8)], "img_metas": [{"flip": False}, {"flip": True}]}
    batch = collate([sample, sample])
    assert [t.shape for t in batch["img"]] == [(2, 3, 4, 4), (2, 3, 8, 8)]
    assert batch["img_metas"][1] == [{"flip": True}, {"flip": True}]
    with pytest.raises(KeyError, match="sample 1"):
        collate([_sample(2, 2, 1), {"img": torch.ones(3, 2, 2)}])


def test_group_sampler_batches_from_one_group_and_epochs():
    dataset = _Flagged([0, 1, 1, 0, 1, 1, 1])
    sampler = GroupSampler(dataset, samples_per_gpu=2, seed=0)
    assert len(sampler) == 2 + 6
    first = list(sampler)
    assert len(first) == 8 and set(first) == set(range(7))
    for a, b in zip(first[::2], first[1::2]):
        assert dataset.flag[a] == dataset.flag[b]
    second = list(sampler)  # epoch advanced: a different order
    sampler.set_epoch(0)
    assert list(sampler) == first and second != first


def test_distributed_group_sampler_splits_ranks():
    dataset = _Flagged([0, 1, 1, 0, 1, 1, 1])
    parts = [list(DistributedGroupSampler(dataset, 2, num_replicas=2, rank=r, seed=3)) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == 6
    assert set(parts[0]) | set(parts[1]) == set(range(7))
    with pytest.raises(ValueError, match="rank"):
        DistributedGroupSampler(dataset, 2, num_replicas=2, rank=2)


def test_build_dataloader_on_cityscapes(cityscapes_root, converted):
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_mask=True),
                dict(type="DefaultFormatBundle"),
                dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"], meta_keys=("filename",))]
    dataset = build_dataset(dict(type="CityscapesDataset", ann_file=str(converted / "instancesonly_filtered_gtFine_train.json"),
                                 img_prefix=str(cityscapes_root / "leftImg8bit" / "train"), pipeline=pipeline))
    loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, seed=1)
    batches = list(loader)
    assert len(batches) == (len(dataset) + 1) // 2
    batch = batches[0]
    assert batch["img"].shape == (2, 3, 128, 256) and batch["img"].dtype == torch.float32
    assert len(batch["img_metas"]) == 2 and all(isinstance(m, BitmapMasks) for m in batch["gt_masks"])
    assert all(b.shape[0] == len(l) == len(m) for b, l, m in zip(batch["gt_bboxes"], batch["gt_labels"], batch["gt_masks"]))
    ordered = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=0, shuffle=False)
    assert [b["img_metas"][0]["filename"] for b in ordered] == [
        str(cityscapes_root / "leftImg8bit" / "train" / info["filename"]) for info in dataset.data_infos]
