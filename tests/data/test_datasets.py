"""CocoDataset / CityscapesDataset / VOCDataset / wrappers on generated data: types, filtering,
errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from detkit.data import build_dataset
from detkit.data.datasets import CityscapesDataset, CocoDataset
from detkit.structures import BitmapMasks

META = (
    "filename",
    "ori_filename",
    "ori_shape",
    "img_shape",
    "pad_shape",
    "scale_factor",
    "img_norm_cfg",
)
TRAIN_PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"], meta_keys=META),
]


def _cfg(root, split="train", **kwargs):
    return dict(
        type="CityscapesDataset",
        data_root=str(root) + "/",
        ann_file=f"annotations/instancesonly_filtered_gtFine_{split}.json",
        img_prefix=f"leftImg8bit/{split}/",
        pipeline=TRAIN_PIPELINE,
        **kwargs,
    )


def test_cityscapes_item_types_and_consistency(cityscapes_root, converted):
    dataset = build_dataset(_cfg(cityscapes_root))
    assert dataset.CLASSES[0] == "person" and len(dataset.CLASSES) == 8
    assert dataset.cat_ids == [24, 25, 26, 27, 28, 31, 32, 33]
    assert dataset.flag.tolist() == [1] * len(dataset)
    for idx in range(len(dataset)):
        sample = {k: v.data for k, v in dataset[idx].items()}  # DataContainers, as mmdet
        assert sample["img"].dtype == torch.float32 and sample["img"].shape == (3, 128, 256)
        n = len(sample["gt_labels"])
        assert n > 0
        assert sample["gt_bboxes"].dtype == torch.float32 and sample["gt_bboxes"].shape == (n, 4)
        assert sample["gt_labels"].dtype == torch.int64 and int(sample["gt_labels"].max()) < 8
        masks = sample["gt_masks"]
        assert isinstance(masks, BitmapMasks) and masks.masks.shape == (n, 128, 256)
        # each box is the extent of its mask (xyxy, x2 = last column + 1)
        for box, mask in zip(sample["gt_bboxes"].numpy(), masks.masks):
            ys, xs = np.nonzero(mask)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert sample["img_metas"]["ori_shape"] == (128, 256, 3)
    # BGR: the sky at the top-left is blue, so channel 0 (B) > channel 2 (R)
    img = dataset[0]["img"].data
    assert img[0, 0, 0] > img[2, 0, 0]


def test_cityscapes_filtering_and_ann_info(cityscapes_root, converted):
    coco = json.loads((converted / "instancesonly_filtered_gtFine_train.json").read_text())
    per_image = {
        im["id"]: [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        for im in coco["images"]
    }
    keep = [
        im["id"]
        for im in coco["images"]
        if per_image[im["id"]] and not all(a["iscrowd"] for a in per_image[im["id"]])
    ]
    dataset = CityscapesDataset(**{k: v for k, v in _cfg(cityscapes_root).items() if k != "type"})
    assert [info["id"] for info in dataset.data_infos] == keep
    unfiltered = CityscapesDataset(
        **{k: v for k, v in _cfg(cityscapes_root, filter_empty_gt=False).items() if k != "type"}
    )
    assert len(unfiltered) == len(coco["images"])
    test_mode = CityscapesDataset(
        **{k: v for k, v in _cfg(cityscapes_root, test_mode=True).items() if k != "type"}
    )
    assert len(test_mode) == len(coco["images"]) and not hasattr(test_mode, "flag")
    for idx, info in enumerate(dataset.data_infos):
        ann = dataset.get_ann_info(idx)
        annos = per_image[info["id"]]
        assert len(ann["bboxes"]) == sum(not a["iscrowd"] for a in annos)
        assert len(ann["bboxes_ignore"]) == sum(a["iscrowd"] for a in annos)
        assert ann["bboxes"].dtype == np.float32 and ann["labels"].dtype == np.int64
        assert ann["seg_map"] == info["segm_file"]


def test_coco_dataset_classes_override_and_repeat_concat(cityscapes_root, converted):
    cfg = _cfg(cityscapes_root)
    cfg.update(type="CocoDataset", classes=("car", "person"))
    dataset = build_dataset(cfg)
    # labels follow the JSON category order filtered by name: person (24) -> 0, car (26) -> 1
    assert dataset.cat_ids == [24, 26] and dataset.CLASSES == ("car", "person")
    for idx in range(len(dataset)):
        assert set(dataset.get_ann_info(idx)["labels"].tolist()) <= {0, 1}
    repeated = build_dataset(dict(type="RepeatDataset", times=3, dataset=_cfg(cityscapes_root)))
    base = repeated.dataset
    assert len(repeated) == 3 * len(base) and repeated.flag.shape == (3 * len(base),)
    both = build_dataset([_cfg(cityscapes_root), _cfg(cityscapes_root, split="val")])
    assert len(both) == len(base) + len(build_dataset(_cfg(cityscapes_root, split="val")))
    assert both.get_cat_ids(len(base)) == build_dataset(
        _cfg(cityscapes_root, split="val")
    ).get_cat_ids(0)


def test_bad_files_are_named_or_skipped(cityscapes_root, converted, tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        CocoDataset(ann_file=str(bad_json), pipeline=[])
    with pytest.raises(FileNotFoundError, match="missing.json"):
        CocoDataset(ann_file=str(tmp_path / "missing.json"), pipeline=[])
    # copy the train images, corrupt the first one
    img_root = tmp_path / "imgs"
    shutil.copytree(cityscapes_root / "leftImg8bit" / "train", img_root)
    cfg = _cfg(cityscapes_root)
    cfg["img_prefix"] = str(img_root) + "/"
    dataset = build_dataset(cfg)
    broken = img_root / dataset.data_infos[0]["filename"]
    broken.write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=broken.name):
        dataset[0]
    (img_root / dataset.data_infos[1]["filename"]).unlink()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dataset[1]
    tolerant = build_dataset({**cfg, "skip_bad_samples": True})
    np.random.seed(0)
    sample = tolerant[0]
    assert tolerant.num_skipped >= 1 and sample["img"].size(0) == 3


def _write_voc(root):
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    objects = {
        "a": [("car", 0, (11, 21, 60, 40)), ("dog", 1, (5, 5, 20, 20)), ("tree", 0, (1, 1, 4, 4))],
        "b": [("tree", 0, (1, 1, 9, 9))],
    }
    for img_id, objs in objects.items():
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(root / "JPEGImages" / f"{img_id}.jpg")
        xml = "".join(
            f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin>"
            f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
            for n, d, b in objs
        )
        (root / "Annotations" / f"{img_id}.xml").write_text(
            f"<annotation><size><width>64</width><height>48</height></size>{xml}</annotation>"
        )
    (root / "train.txt").write_text("a\nb\n")


def test_voc_dataset(tmp_path):
    _write_voc(tmp_path)
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]
    dataset = build_dataset(
        dict(
            type="VOCDataset",
            ann_file=str(tmp_path / "train.txt"),
            img_prefix=str(tmp_path),
            pipeline=pipeline,
        )
    )
    assert len(dataset) == 1  # 'b' has no VOC class and is filtered
    ann = dataset.get_ann_info(0)
    assert ann["bboxes"].tolist() == [[10, 20, 59, 39]] and ann["labels"].tolist() == [
        6
    ]  # car, 1-based -> 0-based
    assert ann["bboxes_ignore"].tolist() == [[4, 4, 19, 19]]  # difficult dog
    results = dataset[0]
    assert results["img"].shape == (48, 64, 3) and results["gt_bboxes"].dtype == np.float32
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation><size>")
    with pytest.raises(ValueError, match="a.xml"):
        build_dataset(
            dict(
                type="VOCDataset",
                ann_file=str(tmp_path / "train.txt"),
                img_prefix=str(tmp_path),
                pipeline=pipeline,
            )
        )


def test_custom_dataset_middle_format(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "a.png")
    records = [
        {
            "filename": "a.png",
            "width": 60,
            "height": 40,
            "ann": {
                "bboxes": [[1, 2, 30, 20]],
                "labels": [1],
                "bboxes_ignore": [],
                "labels_ignore": [],
            },
        },
        {"filename": "tiny.png", "width": 20, "height": 10, "ann": {"bboxes": [], "labels": []}},
    ]
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps(records))
    dataset = build_dataset(
        dict(
            type="CustomDataset",
            ann_file="ann.json",
            data_root=str(tmp_path),
            img_prefix="",
            classes=["a", "b"],
            pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")],
        )
    )
    assert len(dataset) == 1 and dataset.CLASSES == ("a", "b")  # the 20x10 image is below min_size
    results = dataset[0]
    assert (
        results["gt_bboxes"].tolist() == [[1, 2, 30, 20]] and results["gt_labels"].dtype == np.int64
    )
    assert results["gt_bboxes_ignore"].shape == (0, 4)
    ann_file.write_text(json.dumps([{"filename": "a.png"}]))
    with pytest.raises(ValueError, match=r"ann.json: image record 0 lacks \['width', 'height'\]"):
        build_dataset(dict(type="CustomDataset", ann_file=str(ann_file), pipeline=[]))


def test_cityscapes_semantic_seg_from_label_ids(cityscapes_root, converted):
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_seg=True),
        dict(type="DefaultFormatBundle"),
    ]
    dataset = build_dataset(
        {**_cfg(cityscapes_root), "pipeline": pipeline, "seg_prefix": "gtFine/train/"}
    )
    results = dataset[0]
    seg = results["gt_semantic_seg"]
    assert seg.stack and seg.padding_value == 255
    seg = seg.data
    assert (
        seg.shape == (1, 128, 256)
        and seg.dtype == torch.uint8
        and results["seg_fields"] == ["gt_semantic_seg"]
    )
    label_ids = np.asarray(
        Image.open(cityscapes_root / "gtFine" / "train" / dataset.data_infos[0]["segm_file"])
    )
    assert np.array_equal(seg[0].numpy(), label_ids) and 23 in label_ids  # sky
