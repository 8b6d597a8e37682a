"""collate (padding, per-image lists, test-time dict of lists), group samplers, build_dataloader."""

import numpy as np
import pytest
import torch

from detkit.data import build_dataloader, build_dataset
from detkit.data.loaders import DistributedGroupSampler, GroupSampler, collate
from detkit.structures import BitmapMasks, DataContainer


class _Flagged(torch.utils.data.Dataset):
    def __init__(self, flags):
        self.flag = np.array(flags, dtype=np.uint8)

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, idx):
        return idx


def _sample(h, w, n):
    """A sample as DefaultFormatBundle + Collect make it (mmdet v2's DataContainers)."""
    return {
        "img": DataContainer(torch.ones(3, h, w), stack=True),
        "img_metas": DataContainer({"img_shape": (h, w, 3)}, cpu_only=True),
        "gt_bboxes": DataContainer(torch.zeros(n, 4)),
        "gt_labels": DataContainer(torch.zeros(n, dtype=torch.int64)),
        "gt_masks": DataContainer(BitmapMasks(np.zeros((n, h, w), np.uint8), h, w), cpu_only=True),
    }


def test_collate_pads_bottom_right_and_keeps_lists():
    batch = collate([_sample(4, 6, 2), _sample(5, 3, 0)], samples_per_gpu=2)
    assert all(isinstance(v, DataContainer) for v in batch.values())
    [img] = batch["img"].data
    assert batch["img"].stack and img.shape == (2, 3, 5, 6)
    assert img[0, :, 4, :].abs().sum() == 0 and img[0, :, :4, :].min() == 1
    assert img[1, :, :, 3:].abs().sum() == 0
    assert [b.shape for b in batch["gt_bboxes"].data[0]] == [(2, 4), (0, 4)]
    assert batch["gt_masks"].cpu_only and [m.masks.shape for m in batch["gt_masks"].data[0]] == [
        (2, 4, 6),
        (0, 5, 3),
    ]
    assert batch["img_metas"].data[0][1]["img_shape"] == (5, 3, 3)
    seg = collate(
        [
            {
                "gt_semantic_seg": DataContainer(
                    torch.zeros(1, 2, 2, dtype=torch.uint8), stack=True, padding_value=255
                )
            },
            {
                "gt_semantic_seg": DataContainer(
                    torch.zeros(1, 3, 2, dtype=torch.uint8), stack=True, padding_value=255
                )
            },
        ],
        2,
    )["gt_semantic_seg"].data[0]
    assert seg.shape == (2, 1, 3, 2) and seg[0, 0, 2].tolist() == [255, 255]


def test_collate_chunks_per_gpu_as_mmcv():
    """samples_per_gpu splits the batch into per-GPU chunks; each stacked chunk is padded to
    its own largest size; pad_dims chooses how many trailing dims are padded."""
    batch = collate([_sample(4, 6, 1), _sample(5, 3, 1), _sample(2, 2, 1)], samples_per_gpu=2)
    assert [t.shape for t in batch["img"].data] == [(2, 3, 5, 6), (1, 3, 2, 2)]
    assert [len(chunk) for chunk in batch["img_metas"].data] == [2, 1]
    one_dim = collate(
        [
            DataContainer(torch.ones(2, 3), stack=True, pad_dims=1),
            DataContainer(torch.ones(2, 5), stack=True, pad_dims=1),
        ],
        2,
    )
    assert one_dim.data[0].shape == (2, 2, 5) and one_dim.data[0][0, :, 3:].sum() == 0
    no_pad = collate([DataContainer(torch.ones(2), stack=True, pad_dims=None)] * 2, 2)
    assert no_pad.data[0].shape == (2, 2)
    with pytest.raises(ValueError, match="outside their last 2 dims"):
        collate(
            [
                DataContainer(torch.ones(3, 2, 2), stack=True),
                DataContainer(torch.ones(1, 2, 2), stack=True),
            ],
            2,
        )
    with pytest.raises(ValueError, match="pad_dims"):
        DataContainer(torch.ones(1), pad_dims=4)
    with pytest.raises(TypeError, match="list of samples"):
        collate(torch.ones(2))


def test_data_container_attributes_as_mmcv():
    dc = DataContainer(torch.zeros(3, 4, 5), stack=True, padding_value=7)
    assert (dc.stack, dc.cpu_only, dc.padding_value, dc.pad_dims) == (True, False, 7, 2)
    assert dc.size() == (3, 4, 5) and dc.size(1) == 4 and dc.dim() == 3 and len(dc) == 3
    assert dc.datatype == "torch.FloatTensor" and repr(dc).startswith("DataContainer(tensor(")
    meta = DataContainer({"a": 1}, cpu_only=True)
    assert meta.datatype is dict
    with pytest.raises(AttributeError, match="tensor data"):
        meta.size()


def test_collate_test_time_dict_of_lists():
    meta = [
        DataContainer({"flip": False}, cpu_only=True),
        DataContainer({"flip": True}, cpu_only=True),
    ]
    sample = {"img": [torch.ones(3, 4, 4), torch.ones(3, 8, 8)], "img_metas": meta}
    batch = collate([sample, sample], samples_per_gpu=2)
    assert [t.shape for t in batch["img"]] == [(2, 3, 4, 4), (2, 3, 8, 8)]
    assert batch["img_metas"][1].data[0] == [{"flip": True}, {"flip": True}]
    # ImageToTensor images of different sizes: zero-padded (mmcv's default_collate would raise)
    mixed = collate([{"img": [torch.ones(3, 2, 4)]}, {"img": [torch.ones(3, 3, 2)]}], 2)
    assert mixed["img"][0].shape == (2, 3, 3, 4) and mixed["img"][0][1, :, :, 2:].sum() == 0
    with pytest.raises(KeyError, match="sample 1"):
        collate([_sample(2, 2, 1), {"img": DataContainer(torch.ones(3, 2, 2), stack=True)}])


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
    parts = [
        list(DistributedGroupSampler(dataset, 2, num_replicas=2, rank=r, seed=3)) for r in range(2)
    ]
    assert len(parts[0]) == len(parts[1]) == 6
    assert set(parts[0]) | set(parts[1]) == set(range(7))
    with pytest.raises(ValueError, match="rank"):
        DistributedGroupSampler(dataset, 2, num_replicas=2, rank=2)


def test_build_dataloader_on_cityscapes(cityscapes_root, converted):
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_mask=True),
        dict(type="DefaultFormatBundle"),
        dict(
            type="Collect",
            keys=["img", "gt_bboxes", "gt_labels", "gt_masks"],
            meta_keys=("filename",),
        ),
    ]
    dataset = build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(converted / "instancesonly_filtered_gtFine_train.json"),
            img_prefix=str(cityscapes_root / "leftImg8bit" / "train"),
            pipeline=pipeline,
        )
    )
    loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=0, seed=1)
    batches = list(loader)
    assert len(batches) == (len(dataset) + 1) // 2
    batch = {k: v.data[0] for k, v in batches[0].items()}  # one GPU chunk
    assert batch["img"].shape == (2, 3, 128, 256) and batch["img"].dtype == torch.float32
    assert len(batch["img_metas"]) == 2 and all(
        isinstance(m, BitmapMasks) for m in batch["gt_masks"]
    )
    assert all(
        b.shape[0] == len(labels) == len(m)
        for b, labels, m in zip(batch["gt_bboxes"], batch["gt_labels"], batch["gt_masks"])
    )
    ordered = build_dataloader(dataset, samples_per_gpu=1, workers_per_gpu=0, shuffle=False)
    assert [b["img_metas"].data[0][0]["filename"] for b in ordered] == [
        str(cityscapes_root / "leftImg8bit" / "train" / info["filename"])
        for info in dataset.data_infos
    ]
