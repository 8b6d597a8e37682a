"""Exports of what the eager path runs, whatever its class is called: the full AugFPN method
(RFA + SRS + Consistent Supervision, ``AugFPNCascadeRoIHead``) and a user's subclass of
``CascadeRoIHead`` registered here; a batch of 2 through one exported graph (dynamic batch)
equals two eager calls (box ≤ 1e-4 px, score ≤ 1e-6, mask IoU ≥ 0.999).

mmdeploy, detectron2 and torchvision export Cascade Mask R-CNN for batch 1 only (issue 26)."""

from __future__ import annotations

import pytest
import torch
from deploy_helpers import DEMO_CONFIG, images, tiny_model

import detkit
from detkit.deploy.compare import compare_results
from detkit.models.roi_heads import CascadeRoIHead
from detkit.registry import MODELS
from detkit.structures import Instances

pytestmark = pytest.mark.slow  # each export traces the whole detector (~0.5-2 min on 2 cores)

OPTIONS = {
    "model.test_cfg.rcnn.score_thr": 0.0,
    "model.test_cfg.rcnn.max_per_img": 20,
    "model.test_cfg.rpn.max_per_img": 100,
}


@MODELS.register_module(force=True)
class UserRefineCascadeRoIHead(CascadeRoIHead):
    """A user's cascade head: the next stage starts from the regressed boxes shrunk by half a
    pixel on each side (an inference change the built-in heads do not make)."""

    def _refine(self, stage, out, geometry, step, sampling) -> Instances:
        boxes = super()._refine(stage, out, geometry, step, sampling)
        shrink = boxes.boxes.new_tensor([0.5, 0.5, -0.5, -0.5])
        return Instances(boxes=boxes.boxes + shrink, image_index=boxes.image_index)


def _two_images():
    """Two different images of one size: a batch pads neither."""
    return images(sizes=((96, 192),), seed=1) + images(sizes=((96, 192),), seed=2)


def _assert_batch_equals_single_calls(model, detector) -> None:
    imgs = _two_images()
    batched = detkit.inference_detector(detector, imgs)
    assert len(batched) == 2
    for img, got in zip(imgs, batched):
        ref = detkit.inference_detector(model, img)
        report = compare_results(ref, got)
        assert report["same_labels"], report
        assert report["detections"][0] > 0
        assert report["box_max_abs_px"] <= 1e-4, report
        assert report["score_max_abs"] <= 1e-6, report
        assert report["mask_iou_min"] is not None and report["mask_iou_min"] >= 0.999, report


def test_full_augfpn_method_exports_with_dynamic_batch(tmp_path):
    full_method = {  # bench/ablation.py's "RFA+SRS+CS" variant
        "model.neck.type": "AugFPN",
        "model.roi_head.type": "AugFPNCascadeRoIHead",
        "model.roi_head.bbox_roi_extractor.type": "SoftRoIExtractor",
        "model.roi_head.mask_roi_extractor.type": "SoftRoIExtractor",
    }
    model = tiny_model(tmp_path, DEMO_CONFIG, {**OPTIONS, **full_method})
    head = model.roi_head
    assert type(head).__name__ == "AugFPNCascadeRoIHead"
    assert head.consistent_supervision is not None  # CS on (training-only parameters)
    assert type(model.neck).__name__ == "AugFPN"  # RFA
    assert type(head.bbox_roi_extractor[0]).__name__ == "SoftRoIExtractor"  # SRS
    out = str(tmp_path / "augfpn.pt2")
    detkit.export(model, out=out, format="exported-program")
    _assert_batch_equals_single_calls(model, detkit.deploy.ExportedProgramDetector(out))


def test_user_subclass_of_cascade_head_exports_to_onnx(tmp_path):
    model = tiny_model(
        tmp_path, DEMO_CONFIG, {**OPTIONS, "model.roi_head.type": "UserRefineCascadeRoIHead"}
    )
    assert type(model.roi_head) is UserRefineCascadeRoIHead
    out = str(tmp_path / "user.onnx")
    detkit.export(model, out=out, shape=(96, 192))
    _assert_batch_equals_single_calls(model, detkit.deploy.OnnxDetector(out, num_threads=1))
    with torch.no_grad():  # the override is in the graph: the built-in head differs
        plain = detkit.inference_detector(model, _two_images()[0])
        model.roi_head.__class__ = CascadeRoIHead
        builtin = detkit.inference_detector(model, _two_images()[0])
        model.roi_head.__class__ = UserRefineCascadeRoIHead
    assert not compare_results(builtin, plain)["same"]
