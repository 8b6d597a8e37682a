"""LoadImageFromFile, LoadAnnotations (RLE/polygon masks), formatting transforms and Compose."""

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from PIL import Image

from detkit.data.transforms import (
    Collect,
    Compose,
    DefaultFormatBundle,
    ImageToTensor,
    LoadAnnotations,
    LoadImageFromFile,
)
from detkit.structures import BitmapMasks, DataContainer, PolygonMasks

H, W = 12, 16


def _results(segms, tmp_path=None):
    results = {
        "img_info": {"filename": "img.png", "height": H, "width": W},
        "ann_info": {
            "bboxes": np.array([[1, 2, 5, 6], [0, 0, 3, 3], [2, 2, 8, 8]], np.float32),
            "labels": np.array([0, 3, 1]),
            "bboxes_ignore": np.zeros((0, 4), np.float32),
            "masks": segms,
        },
        "img_prefix": str(tmp_path) if tmp_path else None,
        "bbox_fields": [],
        "mask_fields": [],
        "seg_fields": [],
    }
    return results


def _segms():
    square = np.zeros((H, W), np.uint8)
    square[2:6, 1:5] = 1
    compressed = mask_utils.encode(np.asfortranarray(square))
    compressed = {"size": compressed["size"], "counts": compressed["counts"].decode()}
    corner = np.zeros((H, W), np.uint8)
    corner[0:3, 0:3] = 1
    flat = np.asfortranarray(corner).ravel(order="F")
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], flat, [2]))) != 0), prepend=0)
    uncompressed = {"size": [H, W], "counts": [int(r) for r in runs]}
    polygon = [[2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]]
    return [compressed, uncompressed, polygon], square, corner


def test_load_annotations_bitmap_from_rle_and_polygon():
    segms, square, corner = _segms()
    results = LoadAnnotations(with_mask=True)(_results(segms))
    masks = results["gt_masks"]
    assert (
        isinstance(masks, BitmapMasks)
        and masks.masks.shape == (3, H, W)
        and masks.masks.dtype == np.uint8
    )
    assert np.array_equal(masks.masks[0], square)
    assert np.array_equal(masks.masks[1], corner)
    expected_poly = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segms[2], H, W)))
    assert np.array_equal(masks.masks[2], expected_poly) and masks.masks[2].sum() > 0
    assert results["gt_bboxes"].dtype == np.float32 and results["gt_labels"].dtype == np.int64
    assert results["bbox_fields"] == ["gt_bboxes_ignore", "gt_bboxes"] and results[
        "mask_fields"
    ] == ["gt_masks"]


def test_load_annotations_polygons_and_errors():
    polygons = [[[0, 0, 4, 0, 4, 4]], [[1, 1, 5, 1, 5, 5, 1, 5], [1, 2, 3]], [[2, 2, 6, 2, 6, 6]]]
    results = LoadAnnotations(with_mask=True, poly2mask=False)(_results(polygons))
    masks = results["gt_masks"]
    assert isinstance(masks, PolygonMasks) and len(masks) == 3
    assert len(masks.masks[1]) == 1  # the odd-length part is dropped
    segms, _, _ = _segms()
    with pytest.raises(ValueError, match="img.png.*poly2mask=True"):
        LoadAnnotations(with_mask=True, poly2mask=False)(_results(segms))
    bad = _results(segms)
    bad["ann_info"]["labels"] = np.array([0, 1])
    with pytest.raises(ValueError, match="img.png: .*length 2"):
        LoadAnnotations()(bad)


def test_load_image_bgr_and_errors(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = 200  # red
    Image.fromarray(rgb).save(tmp_path / "img.png")
    results = LoadImageFromFile()(_results([], tmp_path))
    assert results["img"].shape == (H, W, 3) and results["img"].dtype == np.uint8
    assert results["img"][0, 0].tolist() == [0, 0, 200]  # BGR
    assert results["ori_filename"] == "img.png" and results["filename"] == str(tmp_path / "img.png")
    assert results["img_shape"] == results["ori_shape"] == (H, W, 3) and results["img_fields"] == [
        "img"
    ]
    assert LoadImageFromFile(to_float32=True)(_results([], tmp_path))["img"].dtype == np.float32
    gray = Image.fromarray(np.full((H, W), 7, np.uint8))
    gray.save(tmp_path / "img.png")
    assert LoadImageFromFile()(_results([], tmp_path))["img"].shape == (H, W, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif)
    rotated = LoadImageFromFile()(
        {"img_info": {"filename": "rot.jpg"}, "img_prefix": str(tmp_path)}
    )
    assert rotated["img"].shape == (W, H, 3)
    (tmp_path / "img.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="img.png"):
        LoadImageFromFile()(_results([], tmp_path))


def test_format_bundle_collect_and_compose(tmp_path):
    Image.fromarray(np.full((H, W, 3), 9, np.uint8)).save(tmp_path / "img.png")
    segms, _, _ = _segms()
    pipeline = Compose(
        [
            dict(type="LoadImageFromFile"),
            dict(type="LoadAnnotations", with_mask=True),
            lambda r: r,  # callables are accepted
            dict(type="DefaultFormatBundle"),
            dict(
                type="Collect",
                keys=["img", "gt_bboxes", "gt_labels", "gt_masks"],
                meta_keys=("filename", "img_shape", "pad_shape", "scale_factor", "img_norm_cfg"),
            ),
        ]
    )
    data = pipeline(_results(segms, tmp_path))
    assert sorted(data) == ["gt_bboxes", "gt_labels", "gt_masks", "img", "img_metas"]
    # mmdet v2: every field in a DataContainer, with mmcv's batching flags
    assert all(isinstance(v, DataContainer) for v in data.values())
    flags = {k: (v.stack, v.cpu_only, v.padding_value) for k, v in data.items()}
    assert flags == {
        "img": (True, False, 0),
        "gt_bboxes": (False, False, 0),
        "gt_labels": (False, False, 0),
        "gt_masks": (False, True, 0),
        "img_metas": (False, True, 0),
    }
    assert data["img"].data.dtype == torch.float32 and data["img"].data.shape == (3, H, W)
    assert isinstance(data["gt_bboxes"].data, torch.Tensor) and isinstance(
        data["gt_masks"].data, BitmapMasks
    )
    meta = data["img_metas"].data
    assert meta["pad_shape"] == (H, W, 3) and meta["scale_factor"] == 1.0
    with pytest.raises(KeyError, match="flip"):
        Collect(keys=["img"])(DefaultFormatBundle()({"img": np.zeros((H, W, 3), np.uint8)}))
    assert Compose([lambda r: None, lambda r: 1 / 0])({}) is None
    with pytest.raises(KeyError, match="NoSuchTransform is not in the pipeline registry"):
        Compose([dict(type="NoSuchTransform")])
    chw = ImageToTensor(keys=["img"])({"img": np.zeros((H, W, 3), np.float32)})["img"]
    assert chw.shape == (3, H, W) and chw.dtype == torch.float32
