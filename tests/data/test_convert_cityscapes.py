"""Cityscapes -> COCO converter: equal to mmdet's, exact against the polygons, errors, atomicity."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image, ImageDraw

from detkit.data.convert import convert_cityscapes
from detkit.data.convert.cityscapes import collect_files, instance_rles, load_img_info
from detkit.data.synthetic import generate_cityscapes_sample


def _import_reference():
    spec = importlib.util.spec_from_file_location(
        "mmdet_reference_converter", Path(__file__).with_name("mmdet_reference_converter.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _import_reference()

REPO = Path(__file__).resolve().parents[2]
CATEGORY_IDS = [24, 25, 26, 27, 28, 31, 32, 33]


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_equals_mmdet_converter(cityscapes_root, converted):
    for split in ("train", "val", "test"):
        files = collect_files(
            cityscapes_root / "leftImg8bit" / split, cityscapes_root / "gtFine" / split
        )
        expected = reference.cvt_annotations(
            [reference.load_img_info((f.img_file, f.inst_file, f.segm_file)) for f in files]
        )
        ours = _load(converted / f"instancesonly_filtered_gtFine_{split}.json")
        assert ours == json.loads(json.dumps(expected)), split
    assert "annotations" not in _load(converted / "instancesonly_filtered_gtFine_test.json")


def test_single_pass_rle_equals_full_image_encode():
    rng = np.random.default_rng(0)
    ids = rng.choice(np.array([0, 7, 24, 26, 26000, 26001, 33002], np.uint16), size=(37, 23))
    ids[0, 0] = 26001  # instance touching the first pixel
    ids[-1, -1] = 24  # and the last one
    rles = instance_rles(ids)
    assert sorted(rles) == [24, 26, 26000, 26001, 33002]
    # also a column-spanning instance (runs continue from the bottom of one column to the next top),
    # single-row / single-column images and an image without instances
    tall = np.full((5, 4), 7, np.uint16)
    tall[3:, 1] = tall[:2, 2] = 26003
    cases = [ids, tall, ids[:1], ids[:, :1], np.full((3, 3), 7, np.uint16)]
    for image in cases:
        rles = instance_rles(image)
        assert sorted(rles) == sorted(int(v) for v in np.unique(image) if v >= 24)
        for inst_id, rle in rles.items():
            expected = mask_utils.encode(np.asfortranarray((image == inst_id).astype(np.uint8)))
            assert rle["counts"] == expected["counts"] and rle["size"] == expected["size"]


def test_categories_images_and_instances_against_polygons(cityscapes_root, converted):
    coco = _load(converted / "instancesonly_filtered_gtFine_train.json")
    assert [c["id"] for c in coco["categories"]] == CATEGORY_IDS
    assert [c["name"] for c in coco["categories"]][:3] == ["person", "rider", "car"]
    assert len(coco["images"]) == 8 and [im["id"] for im in coco["images"]] == list(range(8))
    assert [im["file_name"] for im in coco["images"]] == sorted(
        im["file_name"] for im in coco["images"]
    )
    image = coco["images"][0]
    assert image["file_name"].endswith("_leftImg8bit.png") and image["segm_file"].endswith(
        "_gtFine_labelIds.png"
    )
    assert (image["height"], image["width"]) == (128, 256)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    checked = 0
    for image in coco["images"]:
        # Re-draw the polygons in order (later objects occlude earlier ones), one fill per object.
        stem = image["file_name"][: -len("leftImg8bit.png")]
        objects = _load(cityscapes_root / "gtFine" / "train" / f"{stem}gtFine_polygons.json")[
            "objects"
        ]
        canvas = Image.new("I", (image["width"], image["height"]), 0)
        draw = ImageDraw.Draw(canvas)
        for fill, obj in enumerate(objects, start=1):
            draw.polygon([tuple(p) for p in obj["polygon"]], fill=fill)
        fills = np.asarray(canvas)
        visible = [
            (fill, obj["label"])
            for fill, obj in enumerate(objects, start=1)
            if obj["label"] in names.values() and (fills == fill).any()
        ]
        annos = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert sum(not a["iscrowd"] for a in annos) == len(visible)
        for anno in annos:
            mask = mask_utils.decode(anno["segmentation"]).astype(bool)
            ys, xs = np.nonzero(mask)
            assert anno["area"] == int(mask.sum())
            assert anno["bbox"] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1,
            ]
            label = names[anno["category_id"]]
            if anno["iscrowd"]:
                group = [
                    f for f, obj in enumerate(objects, start=1) if obj["label"] == label + "group"
                ]
                assert np.array_equal(mask, np.isin(fills, group))
            else:
                [fill] = np.unique(fills[mask]).tolist()
                assert objects[fill - 1]["label"] == label
                assert np.array_equal(mask, fills == fill)
                checked += 1
    assert checked > 10


def test_rle_round_trip_equals_instance_ids_region(cityscapes_root, converted):
    coco = _load(converted / "instancesonly_filtered_gtFine_val.json")
    for image in coco["images"]:
        stem = image["file_name"][: -len("leftImg8bit.png")]
        ids = np.asarray(
            Image.open(cityscapes_root / "gtFine" / "val" / f"{stem}gtFine_instanceIds.png")
        )
        annos = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        covered = np.zeros(ids.shape, bool)
        for anno in annos:
            mask = mask_utils.decode(anno["segmentation"]).astype(bool)
            values = np.unique(ids[mask])
            assert len(values) == 1  # exactly one instance id region
            inst_id = int(values[0])
            assert np.array_equal(mask, ids == inst_id)
            assert anno["iscrowd"] == int(inst_id < 1000)
            assert anno["category_id"] == (inst_id // 1000 if inst_id >= 1000 else inst_id)
            covered |= mask
        evaluated = np.isin(np.where(ids >= 1000, ids // 1000, ids), CATEGORY_IDS)
        assert np.array_equal(covered, evaluated)


def test_crowd_and_ignored_classes(tmp_path):
    root = tmp_path / "cs"
    generate_cityscapes_sample(root, train=1, val=0, size=(128, 64))
    json_path = next((root / "gtFine" / "train").glob("*/*_polygons.json"))
    box = lambda x0, y0, x1, y1: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]  # noqa: E731
    objects = [
        {"label": "road", "polygon": box(0, 0, 127, 63)},
        {"label": "cargroup", "polygon": box(0, 0, 30, 20)},
        {"label": "caravan", "polygon": box(40, 0, 60, 20)},
        {"label": "trailer", "polygon": box(70, 0, 90, 20)},
        {"label": "bicycle", "polygon": box(10, 30, 20, 50)},
        {"label": "bicycle", "polygon": box(100, 30, 110, 60)},
    ]
    json_path.write_text(json.dumps({"imgHeight": 64, "imgWidth": 128, "objects": objects}))
    from detkit.data.synthetic import render_id_images

    render_id_images(json_path)
    [summary] = convert_cityscapes(root, tmp_path / "out", splits=("train",), show_progress=False)
    assert summary.crowd == 1 and summary.instances_per_class["bicycle"] == 2
    coco = _load(tmp_path / "out" / "instancesonly_filtered_gtFine_train.json")
    assert [(a["category_id"], a["iscrowd"]) for a in coco["annotations"]] == [
        (26, 1),
        (33, 0),
        (33, 0),
    ]
    assert [a["bbox"] for a in coco["annotations"]] == [
        [0.0, 0.0, 31.0, 21.0],
        [10.0, 30.0, 11.0, 21.0],
        [100.0, 30.0, 11.0, 31.0],
    ]
    assert [a["area"] for a in coco["annotations"]] == [31 * 21, 11 * 21, 11 * 31]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "nothing" / "leftImg8bit"))
    ):
        convert_cityscapes(tmp_path / "nothing")
    root = tmp_path / "cs"
    generate_cityscapes_sample(root, train=2, val=0, size=(64, 32))
    inst = sorted((root / "gtFine" / "train").glob("*/*_instanceIds.png"))[0]
    inst.unlink()
    with pytest.raises(FileNotFoundError, match=f"{inst.name} is missing"):
        convert_cityscapes(root, show_progress=False)
    root2 = tmp_path / "cs2"
    generate_cityscapes_sample(root2, train=1, val=0, size=(64, 32))
    inst2 = next((root2 / "gtFine" / "train").glob("*/*_instanceIds.png"))
    inst2.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=inst2.name):
        load_img_info(collect_files(root2 / "leftImg8bit" / "train", root2 / "gtFine" / "train")[0])
    stray = next((root2 / "leftImg8bit" / "train").glob("*")) / "stray.png"
    stray.write_bytes(b"")
    with pytest.raises(ValueError, match="stray.png"):
        convert_cityscapes(root2, show_progress=False)


def test_parallel_equals_serial_and_cli(cityscapes_root, converted, tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "convert_datasets" / "cityscapes.py"),
            str(cityscapes_root),
            "--nproc",
            "2",
            "--out-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train: 8 images" in result.stdout
    for split in ("train", "val", "test"):
        name = f"instancesonly_filtered_gtFine_{split}.json"
        assert (out / name).read_bytes() == (converted / name).read_bytes()
