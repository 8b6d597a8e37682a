"""MMDetection v2's other loading transforms, FilterAnnotations and file_client_args
(issue 19, part 3), built by name from the registry as a config does."""

import numpy as np
import pytest
from PIL import Image

from detkit.data.transforms import Compose
from detkit.registry import PIPELINES, build
from detkit.structures import BitmapMasks


def _t(**cfg):
    return build(cfg, PIPELINES)


def test_file_client_args_accepted_shown_and_checked():
    for name in (
        "LoadImageFromFile",
        "LoadAnnotations",
        "LoadMultiChannelImageFromFiles",
        "LoadImageFromWebcam",
    ):
        transform = _t(type=name, file_client_args=dict(backend="disk"))
        assert "file_client_args={'backend': 'disk'}" in repr(transform)
    assert "file_client_args={'backend': 'disk'}" in repr(_t(type="LoadImageFromFile"))
    with pytest.raises(ValueError, match="LoadAnnotations.*'petrel'"):
        _t(type="LoadAnnotations", file_client_args=dict(backend="petrel"))
    with pytest.raises(TypeError, match="must be a dict"):
        _t(type="LoadImageFromFile", file_client_args="disk")


def test_load_image_from_webcam():
    img = np.full((5, 7, 3), 9, np.uint8)
    out = _t(type="LoadImageFromWebcam", to_float32=True)({"img": img})
    assert (
        out["img"].dtype == np.float32 and out["filename"] is None and out["ori_filename"] is None
    )
    assert out["img_shape"] == out["ori_shape"] == (5, 7, 3) and out["img_fields"] == ["img"]
    with pytest.raises(TypeError, match="numpy array"):
        _t(type="LoadImageFromWebcam")({"img": "frame.jpg"})
    with pytest.raises(ValueError, match=r"\(0, 0\)"):
        _t(type="LoadImageFromWebcam")({"img": np.zeros((0, 0), np.uint8)})


def test_load_multi_channel_image_from_files(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((4, 6), 10 * i, np.uint8)).save(tmp_path / f"c{i}.png")
    names = [f"c{i}.png" for i in range(3)]
    out = _t(type="LoadMultiChannelImageFromFiles")(
        {"img_info": {"filename": names}, "img_prefix": str(tmp_path)}
    )
    assert out["img"].shape == (4, 6, 3) and out["img"][0, 0].tolist() == [0, 10, 20]
    assert out["filename"] == [str(tmp_path / n) for n in names] and out["ori_filename"] == names
    assert out["pad_shape"] == (4, 6, 3) and out["scale_factor"] == 1.0
    assert (
        out["img_norm_cfg"]["mean"].tolist() == [0, 0, 0] and out["img_norm_cfg"]["to_rgb"] is False
    )
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match="differ in size"):
        _t(type="LoadMultiChannelImageFromFiles")(
            {"img_info": {"filename": ["c0.png", "odd.png"]}, "img_prefix": str(tmp_path)}
        )
    with pytest.raises(TypeError, match="list of files"):
        _t(type="LoadMultiChannelImageFromFiles")({"img_info": {"filename": "c0.png"}})


def test_load_proposals():
    scored = np.array([[0, 0, 4, 4, 0.9], [1, 1, 2, 2, 0.5], [2, 2, 6, 6, 0.1]], np.float32)
    out = _t(type="LoadProposals", num_max_proposals=2)({"proposals": scored, "bbox_fields": []})
    assert out["proposals"].shape == (2, 4) and out["bbox_fields"] == ["proposals"]
    empty = _t(type="LoadProposals")({"proposals": np.zeros((0, 4), np.float32), "bbox_fields": []})
    assert empty["proposals"].tolist() == [[0, 0, 0, 0]]
    with pytest.raises(ValueError, match=r"\(n, 4\) or \(n, 5\)"):
        _t(type="LoadProposals")({"proposals": np.zeros((3, 6)), "bbox_fields": []})
    assert (
        repr(_t(type="LoadProposals", num_max_proposals=7)) == "LoadProposals(num_max_proposals=7)"
    )


def _instances():
    boxes = np.array([[0, 0, 5, 5], [0, 0, 1, 8], [2, 2, 9, 3.5]], np.float32)
    masks = np.zeros((3, 10, 10), np.uint8)
    masks[0, :5, :5] = 1
    masks[1, :8, :1] = 1
    return {
        "gt_bboxes": boxes,
        "gt_labels": np.array([0, 1, 2]),
        "gt_masks": BitmapMasks(masks, 10, 10),
    }


def test_filter_annotations_by_box_by_mask_and_keep_empty():
    out = _t(type="FilterAnnotations", min_gt_bbox_wh=(1, 1))(_instances())
    # w > 1 and h > 1 (strict): the 1 px wide box goes, with its label and mask
    assert out["gt_labels"].tolist() == [0, 2] and len(out["gt_masks"]) == 2
    out = _t(type="FilterAnnotations", by_box=False, by_mask=True, min_gt_mask_area=8)(_instances())
    assert out["gt_labels"].tolist() == [0, 1] and out["gt_bboxes"].shape == (2, 4)
    both = _t(type="FilterAnnotations", by_box=True, by_mask=True, min_gt_mask_area=8)(_instances())
    assert both["gt_labels"].tolist() == [0]
    strict = dict(type="FilterAnnotations", min_gt_bbox_wh=(50, 50))
    assert _t(**strict)(_instances()) is None  # keep_empty=True: the sample is dropped
    kept = _t(**strict, keep_empty=False)(_instances())
    assert kept["gt_bboxes"].shape == (0, 4) and len(kept["gt_masks"]) == 0
    no_gt = {"gt_bboxes": np.zeros((0, 4), np.float32), "gt_labels": np.zeros(0, np.int64)}
    assert _t(**strict)(no_gt) is no_gt
    assert Compose([strict])(_instances()) is None
    assert repr(_t(type="FilterAnnotations")) == (
        "FilterAnnotations(min_gt_bbox_wh=(1.0, 1.0), min_gt_mask_area=1, by_box=True, "
        "by_mask=False, keep_empty=True)"
    )
    with pytest.raises(ValueError, match="by_box or by_mask"):
        _t(type="FilterAnnotations", by_box=False)
    with pytest.raises(KeyError, match="by_mask=True needs results\\['gt_masks'\\]"):
        _t(type="FilterAnnotations", by_box=False, by_mask=True)({"gt_bboxes": np.zeros((1, 4))})
