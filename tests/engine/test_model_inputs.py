"""DataContainers from the pipeline to the model: collate as mmcv, the v2 idiom
``data['img_metas'][0].data[0]``, and ``scatter`` (the one unwrap at the model boundary)."""

import numpy as np
import pytest
import torch

import detkit
from detkit.data.transforms import Compose
from detkit.structures import BitmapMasks, DataContainer

NORM = dict(type="Normalize", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False)


def _test_pipeline(flip):
    return Compose(
        [
            dict(type="LoadImageFromWebcam"),
            dict(
                type="MultiScaleFlipAug",
                img_scale=(32, 24),
                flip=flip,
                transforms=[
                    dict(type="Resize", keep_ratio=True),
                    dict(type="RandomFlip"),
                    NORM,
                    dict(type="Pad", size_divisor=8),
                    dict(type="ImageToTensor", keys=["img"]),
                    dict(type="Collect", keys=["img"]),
                ],
            ),
        ]
    )


def _train_sample(h, w, n):
    results = {
        "img": np.full((h, w, 3), 5, np.uint8),
        "img_shape": (h, w, 3),
        "ori_shape": (h, w, 3),
        "gt_bboxes": np.tile(np.array([[0, 0, 2, 2]], np.float32), (n, 1)),
        "gt_labels": np.arange(n),
        "gt_masks": BitmapMasks(np.ones((n, h, w), np.uint8), h, w),
        "filename": f"{h}x{w}.png",
        "ori_filename": f"{h}x{w}.png",
        "flip": False,
        "flip_direction": None,
    }
    bundle = detkit.registry.build(dict(type="DefaultFormatBundle"), detkit.registry.PIPELINES)
    collect = detkit.registry.build(
        dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"]),
        detkit.registry.PIPELINES,
    )
    return collect(bundle(results))


def test_test_time_batch_has_the_v2_layout_and_scatters_to_model_inputs():
    pipeline = _test_pipeline(flip=True)
    samples = [
        pipeline({"img": np.zeros((12, 16, 3), np.uint8)}),
        pipeline({"img": np.zeros((12, 16, 3), np.uint8)}),
    ]
    assert (
        isinstance(samples[0]["img_metas"][0], DataContainer)
        and samples[0]["img_metas"][0].cpu_only
    )
    data = detkit.data.collate(samples, samples_per_gpu=2)
    metas = data["img_metas"][0].data[0]  # MMDetection v2 user code, unchanged
    assert (
        len(metas) == 2
        and metas[0]["flip"] is False
        and data["img_metas"][1].data[0][0]["flip"] is True
    )
    assert [tuple(t.shape) for t in data["img"]] == [(2, 3, 24, 32)] * 2
    inputs = detkit.engine.scatter(data, "cpu")
    assert isinstance(inputs["img"], list) and torch.equal(inputs["img"][0], data["img"][0])
    assert inputs["img_metas"] == [[m for m in aug.data[0]] for aug in data["img_metas"]]


def test_train_batch_scatters_as_mmcv_and_keeps_cpu_only_on_cpu():
    data = detkit.data.collate([_train_sample(6, 8, 2), _train_sample(8, 5, 1)], samples_per_gpu=2)
    data["cpu_tensor"] = detkit.data.collate([DataContainer(torch.ones(2), cpu_only=True)] * 2, 2)
    inputs = detkit.engine.scatter(data, "meta")  # a device other than the CPU, without a GPU
    assert inputs["img"].device.type == "meta" and inputs["img"].shape == (2, 3, 8, 8)
    assert [b.device.type for b in inputs["gt_bboxes"]] == ["meta", "meta"]
    assert [len(labels) for labels in inputs["gt_labels"]] == [2, 1]
    assert all(isinstance(m, BitmapMasks) for m in inputs["gt_masks"])
    assert [t.device.type for t in inputs["cpu_tensor"]] == ["cpu", "cpu"]  # cpu_only never moves
    assert [m["ori_shape"] for m in inputs["img_metas"]] == [(6, 8, 3), (8, 5, 3)]
    assert (
        detkit.engine.scatter(detkit.engine.scatter(data, "cpu"), "cpu")["img_metas"]
        == inputs["img_metas"]
    )


def test_scatter_refuses_several_gpu_chunks_for_one_device():
    data = detkit.data.collate([_train_sample(4, 4, 1)] * 2, samples_per_gpu=1)
    assert len(data["img"].data) == 2
    with pytest.raises(ValueError, match="exactly one per-GPU chunk.*holds 2"):
        detkit.engine.scatter(data, "cpu")
    with pytest.raises(ValueError, match="holds no"):
        detkit.engine.scatter(DataContainer(torch.ones(1)), "cpu")  # never collated


def test_multi_scale_flip_aug_over_data_containers_feeds_the_detector_forward():
    """``inference_detector``'s path: a collated MultiScaleFlipAug batch reaches
    ``forward_test`` through ``predict_batch``'s scatter (lists over augmentations)."""
    from detkit.engine.inference.batch import predict_batch

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def predict_aug(self, imgs, img_metas, rescale):
            self.seen = (imgs, img_metas)
            return []

    model = Recorder()
    sample = _test_pipeline(flip=True)({"img": np.zeros((12, 16, 3), np.uint8)})
    predict_batch(model, detkit.data.collate([sample], samples_per_gpu=1))
    imgs, metas = model.seen
    assert [tuple(t.shape) for t in imgs] == [(1, 3, 24, 32)] * 2
    assert [m[0]["flip"] for m in metas] == [False, True]
    assert "batch_input_shape" not in metas[0][0]  # inference reads metas, never writes them
