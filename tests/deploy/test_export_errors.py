"""What cannot be exported fails with a message naming the module; bad export arguments and
inputs are refused with clear errors."""

from __future__ import annotations

import pytest
import torch.nn as nn

import detkit
from detkit.deploy.graph import check_exportable


def test_unsupported_module_is_named(mask_rcnn):
    _, model = mask_rcnn
    head = model.roi_head.mask_head
    model.roi_head.mask_head = nn.Identity()
    try:
        with pytest.raises(TypeError, match=r"mask_head Identity \(torch\.nn"):
            check_exportable(model)
        with pytest.raises(TypeError, match="mask_head Identity"):
            detkit.export(model, out="unused.onnx")
    finally:
        model.roi_head.mask_head = head
    check_exportable(model)


def test_bad_arguments(mask_rcnn, tmp_path):
    _, model = mask_rcnn
    with pytest.raises(ValueError, match="format 'tflite'"):
        detkit.export(model, out=str(tmp_path / "m"), format="tflite")
    with pytest.raises(ValueError, match="opset 15 is too old"):
        detkit.export(model, out=str(tmp_path / "m.onnx"), opset=15)
    with pytest.raises(ValueError, match="shape must be"):
        detkit.export(model, out=str(tmp_path / "m.onnx"), shape=(16, 16))
    assert not list(tmp_path.iterdir())


def test_onnx_file_without_metadata_needs_a_config(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["img"], ["boxes"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="no detkit metadata"):
        detkit.deploy.OnnxDetector(str(path))
