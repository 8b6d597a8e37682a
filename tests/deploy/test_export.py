"""Eager vs ONNX Runtime vs torch.export program: the same detections for Mask R-CNN and
Cascade Mask R-CNN + AugFPN, at fixed and dynamic input sizes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from deploy_helpers import CLASSES, assert_same_detections, images, load_tool

import detkit

pytestmark = pytest.mark.slow  # each export traces the whole detector (~0.5-2 min on 2 cores)


def flatten_result(result):
    """(boxes, scores, labels, masks) NumPy arrays of an mmdet result, in class order."""
    typed = detkit.DetectionResult.from_mmdet(result)
    masks = None if typed.masks is None else typed.dense_masks().numpy().astype(bool)
    return typed.boxes.numpy(), typed.scores.numpy(), typed.labels.numpy(), masks


def _compare(model, detectors, imgs) -> None:
    for img in imgs:
        ref = flatten_result(detkit.inference_detector(model, img))
        for detector in detectors:
            assert_same_detections(ref, flatten_result(detkit.inference_detector(detector, img)))


@pytest.fixture(scope="module")
def cascade_exports(cascade):
    tmp, model = cascade
    onnx_file, program_file = str(tmp / "cascade.onnx"), str(tmp / "cascade.pt2")
    load_tool("tools/deployment/export.py").main(
        [str(tmp / "config.py"), str(tmp / "model.pth"), "--out", onnx_file]
    )
    info = detkit.export(model, out=program_file, format="exported-program")
    assert info["bytes"] > 0 and info["seconds"] > 0
    return onnx_file, program_file


def test_cascade_augfpn_dynamic_sizes_match_eager(cascade, cascade_exports):
    _, model = cascade
    onnx_file, program_file = cascade_exports
    ort_detector = detkit.deploy.OnnxDetector(onnx_file, num_threads=1)
    program_detector = detkit.deploy.ExportedProgramDetector(program_file)
    # config and class names come from the files alone
    for detector in (ort_detector, program_detector):
        assert detector.CLASSES == CLASSES
        assert detector.cfg.model.roi_head.type == "CascadeRoIHead"
    _compare(model, [ort_detector, program_detector], images())
    # the demo's own input size: a 512x256 image at scale 1
    model.cfg.data.test.pipeline[1].img_scale = (512, 256)
    for detector in (ort_detector, program_detector):
        detector.cfg.data.test.pipeline[1].img_scale = (512, 256)
    _compare(model, [ort_detector, program_detector], images(sizes=((256, 512),)))
    model.cfg.data.test.pipeline[1].img_scale = (192, 96)


def test_onnx_graph_uses_standard_ops(cascade_exports):
    graph = onnx.load(cascade_exports[0]).graph
    ops = {node.op_type for node in graph.node}
    assert {"RoiAlign", "NonMaxSuppression"} <= ops
    roi_aligns = [n for n in graph.node if n.op_type == "RoiAlign"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in roi_aligns[0].attribute}
    assert attrs["coordinate_transformation_mode"] == b"half_pixel"
    assert attrs["sampling_ratio"] == 0
    assert not any(n.domain.startswith("detkit") for n in graph.node)


def test_predict_gives_detection_results(cascade, cascade_exports):
    _, model = cascade
    detector = detkit.deploy.OnnxDetector(cascade_exports[0], num_threads=1)
    img = torch.from_numpy(images()[0]).permute(2, 0, 1)[None].float()
    meta = dict(
        img_shape=(96, 192, 3),
        ori_shape=(96, 192, 3),
        pad_shape=(96, 192, 3),
        scale_factor=np.ones(4, np.float32),
        flip=False,
    )
    with torch.no_grad():
        ref = model.predict(img, [meta], rescale=False)[0]
    got = detector.predict(img, [meta], rescale=False)[0]
    assert isinstance(got, detkit.DetectionResult)
    assert torch.equal(ref.labels, got.labels)
    torch.testing.assert_close(got.boxes, ref.boxes, rtol=0, atol=1e-2)
    assert got.masks.shape == ref.masks.shape == (len(ref), 96, 192)


def test_infer_tool_onnxruntime_backend(cascade, cascade_exports, tmp_path):
    infer_main = load_tool("tools/infer.py").main
    tmp, _ = cascade
    folder = tmp_path / "images"
    folder.mkdir()
    from PIL import Image

    for i, img in enumerate(images()):
        Image.fromarray(img[:, :, ::-1]).save(folder / f"{i}.png")
    eager = infer_main(
        [
            str(tmp / "config.py"),
            str(tmp / "model.pth"),
            str(folder),
            "--out-dir",
            str(tmp_path / "eager"),
            "--score-thr",
            "0",
        ]
    )
    exported = infer_main(
        [
            "-",
            cascade_exports[0],
            str(folder),
            "--backend",
            "onnxruntime",
            "--out-dir",
            str(tmp_path / "ort"),
            "--score-thr",
            "0",
        ]
    )
    ref, got = (json.loads(open(f).read()) for f in (eager, exported))
    assert [r["file"] for r in ref] == [g["file"] for g in got]
    for r, g in zip(ref, got):
        assert [d["label"] for d in r["detections"]] == [d["label"] for d in g["detections"]]
        np.testing.assert_allclose(
            [d["bbox"] for d in g["detections"]], [d["bbox"] for d in r["detections"]], atol=1.1e-2
        )


def test_mask_rcnn_fixed_and_dynamic_sizes_match_eager(mask_rcnn):
    tmp, model = mask_rcnn
    onnx_file, program_file = str(tmp / "mask_rcnn.onnx"), str(tmp / "mask_rcnn.pt2")
    detkit.export(model, out=onnx_file, shape=(96, 192), simplify=True)
    detkit.export(model, out=program_file, format="exported-program")
    fixed = detkit.deploy.OnnxDetector(onnx_file, num_threads=1)
    dynamic = detkit.deploy.ExportedProgramDetector(program_file)
    _compare(model, [fixed, dynamic], images(sizes=((96, 192), (48, 96))))  # both pad to 96x192
    _compare(model, [dynamic], images(sizes=((150, 150),)))
    with pytest.raises(ValueError, match="exported for 96x192"):
        detkit.inference_detector(fixed, images(sizes=((150, 150),))[0])
