"""The demo config's train/test data settings run end to end on a generated sample."""

from pathlib import Path

import torch

import detkit
from detkit.structures import BitmapMasks

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = (
    REPO / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
)


def _point_at(dataset_cfg, root: Path, split_json: str, split: str) -> None:
    dataset_cfg["ann_file"] = str(
        root / "annotations" / f"instancesonly_filtered_gtFine_{split_json}.json"
    )
    dataset_cfg["img_prefix"] = str(root / "leftImg8bit" / split) + "/"


def test_demo_config_train_and_test_loaders(cityscapes_root, converted):
    cfg = detkit.Config.fromfile(str(DEMO_CONFIG))
    _point_at(cfg.data.train.dataset, cityscapes_root, "train", "train")
    _point_at(cfg.data.test, cityscapes_root, "val", "val")
    train_set = detkit.build_dataset(cfg.data.train)
    loader = detkit.build_dataloader(train_set, cfg.data.samples_per_gpu, 0, seed=0)
    batch = next(iter(loader))
    # mmdet v2's batch: DataContainers holding one chunk of samples_per_gpu samples
    img = batch["img"].data[0]
    assert img.dtype == torch.float32 and img.shape == (2, 3, 256, 512)
    for boxes, labels, masks, meta in zip(
        batch["gt_bboxes"].data[0],
        batch["gt_labels"].data[0],
        batch["gt_masks"].data[0],
        batch["img_metas"].data[0],
    ):
        assert isinstance(masks, BitmapMasks) and len(boxes) == len(labels) == len(masks)
        assert meta["pad_shape"][:2] == (256, 512) and meta["img_norm_cfg"]["to_rgb"]

    test_set = detkit.build_dataset(cfg.data.test, dict(test_mode=True))
    test_loader = detkit.build_dataloader(test_set, 1, 0, shuffle=False)
    assert len(test_loader) == 4
    batch = next(iter(test_loader))
    assert [tuple(t.shape) for t in batch["img"]] == [(1, 3, 256, 512)]
    [meta] = batch["img_metas"][0].data[0]  # the v2 idiom
    assert (
        meta["ori_shape"] == (128, 256, 3)
        and meta["flip"] is False
        and meta["scale_factor"].tolist() == [2, 2, 2, 2]
    )
