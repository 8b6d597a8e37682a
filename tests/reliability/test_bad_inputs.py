"""Malformed input fed to the public entry points as a careless user would: COCO JSON, datasets,
images, the converter, configs and ``--cfg-options``, inference. Every error names the culprit
(file, id, key path, value); CLIs exit non-zero and leave no half-written output."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

REPO = Path(__file__).resolve().parents[2]
ENGINE_TESTS = REPO / "tests" / "engine"
sys.path.insert(0, str(ENGINE_TESTS))
from test_train_detector import write_config  # noqa: E402
from tiny_demo import DEMO_CONFIG, TINY_DEMO_OPTIONS  # noqa: E402

VALID = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
        {"id": 2, "file_name": "b.png", "width": 64, "height": 48},
    ],
    "annotations": [
        {
            "id": 7,
            "image_id": 1,
            "category_id": 1,
            "bbox": [2, 3, 20, 10],
            "area": 200,
            "iscrowd": 0,
            "segmentation": [[2, 3, 22, 3, 22, 13, 2, 13]],
        },
        {
            "id": 8,
            "image_id": 2,
            "category_id": 2,
            "bbox": [5, 5, 10, 10],
            "area": 100,
            "iscrowd": 0,
            "segmentation": [[5, 5, 15, 5, 15, 15]],
        },
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
}


def _write(tmp_path: Path, data: dict, name: str = "ann.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _dataset(ann_file: str, **kwargs):
    args = dict(
        type="CocoDataset", ann_file=ann_file, pipeline=[], classes=("person", "car"), min_size=8
    )
    return detkit.build_dataset({**args, **kwargs})


def _mutate(path: str, value):
    data = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return data


# (mutated path, new value or KeyError to delete it, words the message must contain)
MALFORMED = [
    ("annotations.0.bbox", KeyError, ["annotation 7", "has no 'bbox'"]),
    ("annotations.0.area", KeyError, ["annotation 7", "has no 'area'"]),
    ("annotations.0.iscrowd", KeyError, ["annotation 7", "has no 'iscrowd'"]),
    (
        "annotations.0.bbox",
        "2,3,20,10",
        ["annotation 7", "'bbox' must be 4 numbers", "'2,3,20,10'"],
    ),
    ("annotations.0.bbox", [2, 3, 20], ["annotation 7", "'bbox' must be 4 numbers", "[2, 3, 20]"]),
    (
        "annotations.0.segmentation",
        [[2, 3, 22, 3]],
        ["annotation 7", "polygon 0", "at least 6 numbers"],
    ),
    ("annotations.0.segmentation", [], ["annotation 7", "'segmentation' must be a non-empty list"]),
    ("annotations.1.area", "big", ["annotation 8", "'area' must be a number", "'big'"]),
    ("images.1.width", "64", ["image 2", "'width' must be a positive number", "'64'"]),
    ("images.0.height", 0, ["image 1", "'height' must be a positive number", "got 0"]),
    ("images.1.file_name", KeyError, ["image 2", "has no 'file_name'"]),
    ("images.1.id", 1, ["duplicate image ids [1]"]),
]


@pytest.mark.parametrize("path, value, words", MALFORMED, ids=[f"{p}={v}" for p, v, _ in MALFORMED])
def test_malformed_coco_names_file_id_and_field(tmp_path, path, value, words):
    ann_file = _write(tmp_path, _mutate(path, value))
    for test_mode in (False, True):
        with pytest.raises(ValueError) as info:
            _dataset(ann_file, test_mode=test_mode)
        assert ann_file in str(info.value) and all(w in str(info.value) for w in words), str(
            info.value
        )


def test_rule_dropped_annotations_warn_once_with_counts(tmp_path):
    data = copy.deepcopy(VALID)
    extra = dict(area=10, iscrowd=0, segmentation=[[1, 1, 5, 1, 5, 5]])
    data["annotations"] += [
        dict(id=20, image_id=99, category_id=1, bbox=[1, 1, 4, 4], **extra),
        dict(id=21, image_id=98, category_id=1, bbox=[1, 1, 4, 4], **extra),
        dict(id=22, image_id=1, category_id=5, bbox=[1, 1, 4, 4], **extra),
        dict(id=23, image_id=1, category_id=1, bbox=[1, 1, 0, 4], **extra),
    ]
    ann_file = _write(tmp_path, data)
    with pytest.warns(UserWarning) as record:
        dataset = _dataset(ann_file)
    messages = [str(w.message) for w in record if ann_file in str(w.message)]
    assert len(messages) == 1
    assert (
        "4 annotations will be ignored" in messages[0]
        and "2 with image_id not in images" in messages[0]
        and "1 with category_id not in categories" in messages[0]
        and "1 with zero or negative box width/height" in messages[0]
    )
    assert (
        len(dataset) == 2 and len(dataset.get_ann_info(0)["bboxes"]) == 1
    )  # mmdet's rule still applies


def test_training_set_without_usable_annotations_fails_naming_the_file(tmp_path):
    ann_file = _write(tmp_path, VALID)
    with pytest.raises(ValueError) as info:
        _dataset(ann_file, classes=("bus",))
    message = str(info.value)
    assert ann_file in message and "no usable training images" in message
    assert "2 with no annotation of the 0 selected classes" in message
    with pytest.raises(ValueError, match=r"2 with shorter side below min_size=100"):
        _dataset(ann_file, min_size=100)
    assert (
        len(_dataset(ann_file, classes=("bus",), test_mode=True)) == 2
    )  # testing keeps every image


def _image_dataset(tmp_path: Path, **kwargs):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(tmp_path / name)
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True)]
    return _dataset(_write(tmp_path, VALID), pipeline=pipeline, img_prefix=str(tmp_path), **kwargs)


def test_zero_byte_and_wrong_size_train_images(tmp_path):
    dataset = _image_dataset(tmp_path)
    assert dataset[0]["img"].shape == (48, 64, 3)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"cannot decode image file .*a.png: the file is empty \(0 bytes\)"
    ):
        dataset[0]
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"a.png decodes to 1x1 .* annotation record says 64x48"):
        dataset[0]
    skipping = _image_dataset(tmp_path, skip_bad_samples=True)
    (tmp_path / "a.png").write_bytes(b"")
    np.random.seed(0)
    assert skipping[0]["img_info"]["filename"] == "b.png" and skipping.num_skipped >= 1


def test_converter_checks_sizes_and_removes_stale_temporaries(tmp_path):
    generate_cityscapes_sample(tmp_path, train=2, val=0, test=0, size=(64, 32), seed=1)
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    stale = annotations / ".instancesonly_filtered_gtFine_train.json.x1y2.tmp"
    stale.write_text("{")  # what a converter killed mid-write leaves behind
    convert_cityscapes(tmp_path, annotations, show_progress=False, splits=("train",))
    assert sorted(p.name for p in annotations.iterdir()) == [
        "instancesonly_filtered_gtFine_train.json"
    ]

    inst_file = sorted((tmp_path / "gtFine" / "train").rglob("*_instanceIds.png"))[0]
    ids = cv2.imread(str(inst_file), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(
        str(inst_file), np.repeat(np.repeat(ids, 2, 0), 2, 1)
    )  # the annotation at 2x the size
    before = (annotations / "instancesonly_filtered_gtFine_train.json").read_bytes()
    with pytest.raises(ValueError) as info:
        convert_cityscapes(tmp_path, annotations, show_progress=False, splits=("train",))
    assert str(inst_file) in str(info.value) and "is 128x64 but its image" in str(info.value)
    assert "is 64x32" in str(info.value)
    assert (annotations / "instancesonly_filtered_gtFine_train.json").read_bytes() == before


def test_cfg_options_new_key_warns_with_closest_and_strict_fails():
    cfg = detkit.Config.fromfile(str(REPO / DEMO_CONFIG))
    with pytest.warns(
        UserWarning, match=r"`data.sample_per_gpu` \(closest existing key: `data.samples_per_gpu`\)"
    ):
        cfg.merge_from_dict({"data.sample_per_gpu": 1})
    with pytest.raises(
        KeyError,
        match=r"`model.roi_head.mask_head.conv_out_channel` \(closest existing key: "
        r"`model.roi_head.mask_head.conv_out_channels`\)",
    ):
        cfg.merge_from_dict({"model.roi_head.mask_head.conv_out_channel": 8}, strict=True)
    assert "conv_out_channel" not in cfg.model.roi_head.mask_head
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg.merge_from_dict(TINY_DEMO_OPTIONS)  # existing keys: no warning


BAD_VALUES = [
    ({"data.samples_per_gpu": 0}, "`data.samples_per_gpu` must be an int >= 1, got 0"),
    ({"data.workers_per_gpu": -1}, "`data.workers_per_gpu` must be an int >= 0, got -1"),
    ({"optimizer.lr": "abc"}, "`optimizer.lr` must be a number >= 0, got 'abc'"),
    ({"lr_config.warmup_iters": "ten"}, "`lr_config.warmup_iters` must be an int >= 0, got 'ten'"),
    (
        {"lr_config.step": [2, "x"]},
        "`lr_config.step` must be an int >= 1 or a list of them, got [2, 'x']",
    ),
    ({"runner.max_epochs": "two"}, "`runner.max_epochs` must be an int >= 1, got 'two'"),
    ({"log_config.interval": 0}, "`log_config.interval` must be an int >= 1, got 0"),
]


@pytest.mark.parametrize("options, message", BAD_VALUES, ids=[next(iter(o)) for o, _ in BAD_VALUES])
def test_bad_config_values_name_key_path_and_value(tmp_path, options, message):
    from toy_detector import ToyDataset, ToyDetector

    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.merge_from_dict(options)
    cfg.work_dir = None
    with pytest.raises(ValueError) as info:
        detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)
    assert message in str(info.value)


def test_hook_errors_name_their_config_key(tmp_path):
    from toy_detector import ToyDataset, ToyDetector

    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.work_dir = str(tmp_path / "work")
    cfg.custom_hooks = [
        dict(type="NumClassCheckHook"),
        dict(type="CheckpointHook", interval=1, bogus=3),
    ]
    with pytest.raises(TypeError, match=r"CheckpointHook \(config key `custom_hooks.1`\)"):
        detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)


def _train_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{ENGINE_TESTS}", OMP_NUM_THREADS="1")
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "train.py"),
            write_config(str(tmp_path)),
            "--work-dir",
            str(tmp_path / "work"),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_train_cli_bad_options_exit_non_zero_without_outputs(tmp_path):
    strict = _train_cli(tmp_path, "--strict-cfg-options", "--cfg-options", "data.sample_per_gpu=1")
    assert (
        strict.returncode != 0 and "closest existing key: `data.samples_per_gpu`" in strict.stderr
    )
    assert not (tmp_path / "work").exists()
    zero = _train_cli(tmp_path, "--cfg-options", "data.samples_per_gpu=0")
    assert (
        zero.returncode != 0 and "`data.samples_per_gpu` must be an int >= 1, got 0" in zero.stderr
    )
    work = tmp_path / "work"
    assert not [p for p in os.listdir(work) if p.endswith((".pth", ".tmp"))]
    (tmp_path / "notes.txt").write_text("not weights")
    text = _train_cli(tmp_path, "--resume-from", str(tmp_path / "notes.txt"))
    assert (
        text.returncode != 0
        and f"{tmp_path / 'notes.txt'}: not a PyTorch checkpoint" in text.stderr
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_bad_inputs")
    cfg = detkit.Config.fromfile(str(REPO / DEMO_CONFIG))
    cfg.merge_from_dict(TINY_DEMO_OPTIONS)
    detkit.set_img_scale(cfg, (64, 32))
    model = detkit.build_detector(cfg.model)
    checkpoint = root / "tiny.pth"
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=("person", "car")))
    return root, cfg, checkpoint


def test_inference_on_bad_images_and_short_classes(tiny_model):
    root, cfg, checkpoint = tiny_model
    with pytest.raises(
        ValueError, match=r"meta CLASSES has 2 names .* the model predicts 8 classes"
    ):
        detkit.init_detector(cfg, str(checkpoint))
    model = detkit.init_detector(cfg)
    with pytest.raises(ValueError, match="image array must be uint8 .* got float64"):
        detkit.inference_detector(model, np.zeros((32, 64, 3)))
    with pytest.raises(ValueError, match=r"image array is empty: shape \(0, 0, 3\)"):
        detkit.inference_detector(model, np.zeros((0, 0, 3), np.uint8))
    empty_jpg = root / "empty.jpg"
    empty_jpg.write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"cannot decode image file .*empty.jpg: the file is empty"
    ):
        detkit.inference_detector(model, str(empty_jpg))


@pytest.mark.slow
def test_infer_cli_bad_checkpoint_and_empty_image_exit_non_zero(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    images = tmp_path / "images"
    images.mkdir()
    (images / "empty.jpg").write_bytes(b"")
    notes = tmp_path / "weights.pth"
    notes.write_text("I am not a checkpoint")

    def infer(checkpoint: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                str(REPO / "tools" / "infer.py"),
                str(REPO / DEMO_CONFIG),
                str(checkpoint),
                str(images),
                "--out-dir",
                str(out),
                *options,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    typo = infer(
        notes,
        tmp_path / "out",
        "--strict-cfg-options",
        "--cfg-options",
        "model.test_cfg.rcnn.score_th=0.5",
    )
    assert (
        typo.returncode == 1
        and "closest existing key: `model.test_cfg.rcnn.score_thr`" in typo.stderr
    )
    bad = infer(notes, tmp_path / "out")
    assert bad.returncode == 1 and f"{notes}: not a PyTorch checkpoint" in bad.stderr
    assert not (tmp_path / "out").exists()
    checkpoint = tmp_path / "random.pth"
    detkit.save_checkpoint(
        detkit.build_detector(detkit.Config.fromfile(str(REPO / DEMO_CONFIG)).model),
        str(checkpoint),
    )
    empty = infer(checkpoint, tmp_path / "out2")
    assert empty.returncode == 1 and "empty.jpg: the file is empty (0 bytes)" in empty.stderr
    assert not (tmp_path / "out2" / "detections.json").exists()


def test_exif_rotated_jpeg_is_drawn_as_the_pipeline_decodes_it(tiny_model, tmp_path):
    _, cfg, _ = tiny_model
    model = detkit.init_detector(cfg)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise on display
    path = tmp_path / "portrait.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 96, 3), dtype=np.uint8)).save(
        path, exif=exif
    )
    result = detkit.inference_detector(model, str(path))
    drawn = detkit.show_result(str(path), result, model.CLASSES, score_thr=0.0)
    assert drawn.shape[:2] == (
        96,
        48,
    )  # OpenCV applies the orientation: 48x96 stored, 96 high shown


CONFIG_FILES = [
    ("syntax.py", b'model = dict(type="X"\n', SyntaxError, "has a syntax error at line 1"),
    ("base.py", b'_base_ = "./missing.py"\n', FileNotFoundError, "listed in `_base_` of"),
    ("list.json", b"[1, 2]", ValueError, "must hold a mapping at top level, got list"),
    ("bad.yaml", b"a: [1\n", ValueError, "could not be parsed"),
    ("cfg.txt", b"x = 1", ValueError, "unsupported type '.txt'"),
    ("binary.py", b"\xff\xfe\x00", ValueError, "is not UTF-8 text (byte 0"),
]


@pytest.mark.parametrize(
    "name, content, error, words", CONFIG_FILES, ids=[c[0] for c in CONFIG_FILES]
)
def test_config_fromfile_names_the_file(tmp_path, name, content, error, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as info:
        detkit.Config.fromfile(str(path))
    assert str(path) in str(info.value) and words in str(info.value)
