"""Inference API (init_detector, inference_detector, show_result, infer_folder) and the
notebook helpers (set_img_scale, evaluate_detector, plot_class_ap) on a tiny real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image
from tiny_demo import DEMO_CONFIG as TINY_DEMO_CONFIG
from tiny_demo import TINY_DEMO_OPTIONS

import detkit
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample
from detkit.engine.inference import find_images
from detkit.structures.results import DetectionResult

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / TINY_DEMO_CONFIG
CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


def tiny_config(data_root: str):
    """The demo config with a 16-channel model on 128x64 images (random weights keep
    detections with score_thr 0)."""
    cfg = detkit.Config.fromfile(str(DEMO_CONFIG))
    cfg.merge_from_dict(
        {
            **TINY_DEMO_OPTIONS,
            "model.test_cfg.rpn.max_per_img": 50,
            "data.val.ann_file": f"{data_root}/annotations/instancesonly_filtered_gtFine_val.json",
            "data.val.img_prefix": f"{data_root}/leftImg8bit/val/",
        }
    )
    detkit.set_img_scale(cfg, (128, 64))
    return cfg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_apis")
    generate_cityscapes_sample(root, train=0, val=2, test=0, size=(128, 64), seed=7)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("val",))
    cfg = tiny_config(str(root))
    torch.manual_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    checkpoint = str(root / "tiny.pth")
    detkit.save_checkpoint(model, checkpoint, meta=dict(CLASSES=CLASSES[::-1]))
    images = sorted(str(p) for p in (root / "leftImg8bit" / "val").rglob("*.png"))
    return dict(root=root, cfg=cfg, checkpoint=checkpoint, images=images)


def test_set_img_scale_changes_every_resize():
    cfg = detkit.Config.fromfile(str(DEMO_CONFIG))
    assert (
        detkit.set_img_scale(cfg, (256, 128)) == 3
    )  # train Resize, val and test MultiScaleFlipAug
    assert cfg.data.train.dataset.pipeline[3].img_scale == (256, 128)
    assert cfg.data.test.pipeline[1].img_scale == (256, 128)
    with pytest.raises(ValueError, match="two positive ints"):
        detkit.set_img_scale(cfg, (256, 0))


def test_from_mmdet_orders_by_class_and_decodes_rle():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    rle = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    result = (
        [np.zeros((0, 5), np.float32), np.array([[1, 1, 5, 3, 0.9]], np.float32)],
        [[], [rle]],
    )
    typed = DetectionResult.from_mmdet(result)
    bboxes, scores, labels, masks = typed.boxes, typed.scores, typed.labels, typed.masks
    np.testing.assert_array_equal(bboxes, [[1, 1, 5, 3]])
    np.testing.assert_allclose(scores, [0.9])
    np.testing.assert_array_equal(labels, [1])
    np.testing.assert_array_equal(masks, mask[None])


def test_find_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file or folder"):
        find_images(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no images"):
        find_images(str(tmp_path))


def test_plot_class_ap_and_eval_json(tmp_path):
    metrics = {"bbox_mAP": 0.5, "bbox_AP_person": 0.75, "bbox_AP_car": float("nan")}
    ax = detkit.viz.plot_class_ap(metrics, "bbox")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["person", "car"]
    assert [p.get_height() for p in ax.patches] == [0.75, 0.0]
    with pytest.raises(KeyError, match="classwise=True"):
        detkit.viz.plot_class_ap({"segm_mAP": 0.1}, "segm")
    path = detkit.engine.write_eval_json(str(tmp_path), "a.py", {"bbox_mAP": 0.5})
    assert Path(path).name.startswith("eval_")
    assert json.loads(Path(path).read_text()) == {"config": "a.py", "metric": {"bbox_mAP": 0.5}}


def test_init_detector_takes_classes_from_the_checkpoint(tiny):
    model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"])
    assert model.CLASSES == CLASSES[::-1]
    assert not model.training
    assert model.cfg.model.train_cfg is None
    without = detkit.init_detector(tiny["cfg"])
    assert without.CLASSES == CLASSES  # from the CityscapesDataset of data.test


def test_paths_arrays_single_and_batched_agree(tiny):
    model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"])
    path = tiny["images"][0]
    from_path = detkit.inference_detector(model, path)
    bgr = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1].copy()
    from_array = detkit.inference_detector(model, bgr)
    batched = detkit.inference_detector(model, tiny["images"])
    assert isinstance(batched, list) and len(batched) == 2
    bbox_results, segm_results = from_path
    assert len(bbox_results) == 8 and sum(len(b) for b in bbox_results) > 0
    assert next(m for c in segm_results for m in c).shape == (64, 128)
    for a, b, c in zip(bbox_results, from_array[0], batched[0][0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-3)
    with pytest.raises(TypeError, match="all paths or all arrays"):
        detkit.inference_detector(model, [path, bgr])
    with pytest.raises(FileNotFoundError, match="image not found"):
        detkit.inference_detector(model, str(tiny["root"] / "nope.png"))


def test_show_result_and_infer_folder(tiny, tmp_path):
    model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"])
    path = tiny["images"][0]
    result = detkit.inference_detector(model, path)
    drawn = detkit.show_result(
        path, result, model.CLASSES, score_thr=0.0, out_file=str(tmp_path / "a.png")
    )
    assert drawn.shape == (64, 128, 3) and drawn.dtype == np.uint8
    original = np.asarray(Image.open(path).convert("RGB"))
    assert not np.array_equal(drawn, original)  # something was drawn
    assert Image.open(tmp_path / "a.png").size == (128, 64)

    json_file = detkit.infer_folder(
        model, str(tiny["root"] / "leftImg8bit"), str(tmp_path / "out"), score_thr=0.0, batch_size=2
    )
    records = json.loads(Path(json_file).read_text())
    assert [r["file"] for r in records] == [
        str(Path(p).relative_to(tiny["root"] / "leftImg8bit")) for p in tiny["images"]
    ]
    first = records[0]["detections"][0]
    assert (
        set(first) == {"label", "class", "score", "bbox"}
        and first["class"] == model.CLASSES[first["label"]]
    )
    assert all((tmp_path / "out" / r["file"]).is_file() for r in records)


def test_typed_inference_matches_the_mmdet_forward_and_draws_the_same(tiny, tmp_path):
    """``inference_detector`` (typed ``predict_images`` -> ``to_mmdet``) returns what the mmdet
    forward returns; drawing a typed result and its mmdet form gives the same pixels."""
    from detkit.data import collate
    from detkit.engine.inference.batch import _test_pipeline

    model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"])
    pipeline = _test_pipeline(model.cfg, from_arrays=False)
    batch = collate(
        [pipeline(dict(img_info=dict(filename=p), img_prefix=None)) for p in tiny["images"]],
        samples_per_gpu=len(tiny["images"]),
    )
    # MMDetection v2 user code unwraps the DataContainers by hand, as mmdet's inference_detector
    unwrapped = dict(img=batch["img"], img_metas=[m.data[0] for m in batch["img_metas"]])
    assert [m["ori_filename"] for m in batch["img_metas"][0].data[0]] == tiny["images"]
    with torch.no_grad():
        expected = model(return_loss=False, rescale=True, **unwrapped)
        assert_same = model(return_loss=False, rescale=True, **detkit.engine.scatter(batch, "cpu"))
    typed = detkit.engine.predict_images(model, tiny["images"])
    for result, want in zip(assert_same, expected):
        np.testing.assert_array_equal(np.concatenate(result[0]), np.concatenate(want[0]))
    for result, want in zip(detkit.inference_detector(model, tiny["images"]), expected):
        for got_boxes, want_boxes in zip(result[0], want[0]):
            np.testing.assert_array_equal(got_boxes, want_boxes)
        for got_masks, want_masks in zip(result[1], want[1]):
            assert all(np.array_equal(a, b) for a, b in zip(got_masks, want_masks))
    class_major = typed[0][torch.argsort(typed[0].labels, stable=True)]
    round_trip = DetectionResult.from_mmdet(typed[0].to_mmdet(model.num_classes))
    torch.testing.assert_close(round_trip.boxes, class_major.boxes)
    torch.testing.assert_close(round_trip.dense_masks(), class_major.dense_masks())
    from_typed = detkit.show_result(tiny["images"][0], class_major, model.CLASSES, score_thr=0.0)
    from_mmdet = detkit.show_result(tiny["images"][0], expected[0], model.CLASSES, score_thr=0.0)
    np.testing.assert_array_equal(from_typed, from_mmdet)


def test_evaluate_detector_writes_eval_json(tiny, tmp_path, capsys):
    model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"])
    metrics = detkit.evaluate_detector(model, tiny["cfg"], split="val", work_dir=str(tmp_path))
    assert "bbox_AP_person" in metrics and 0.0 <= metrics["segm_mAP"] <= 1.0
    (eval_json,) = tmp_path.glob("eval_*.json")
    saved = json.loads(eval_json.read_text())
    assert saved["metric"] == metrics and saved["config"] == str(DEMO_CONFIG)
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_inference_matches_cpu(tiny):
    cpu_model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"], device="cpu")
    cuda_model = detkit.init_detector(tiny["cfg"], tiny["checkpoint"], device="cuda:0")
    assert next(cuda_model.parameters()).is_cuda
    on_cpu = detkit.inference_detector(cpu_model, tiny["images"])
    on_cuda = detkit.inference_detector(cuda_model, tiny["images"])
    for result_cpu, result_cuda in zip(on_cpu, on_cuda):
        scores_cpu = np.sort(DetectionResult.from_mmdet(result_cpu).scores.numpy())[::-1][:5]
        scores_cuda = np.sort(DetectionResult.from_mmdet(result_cuda).scores.numpy())[::-1][:5]
        np.testing.assert_allclose(scores_cpu, scores_cuda, atol=1e-3)  # same top detections
        assert all(isinstance(m, np.ndarray) for per_class in result_cuda[1] for m in per_class)
