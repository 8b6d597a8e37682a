"""Module-scoped detectors for the deploy tests."""

from __future__ import annotations

import pytest
from deploy_helpers import DEMO_CONFIG, MASK_RCNN_CONFIG, TINY_MASK_RCNN_OPTIONS, tiny_model


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    """The demo config's Cascade Mask R-CNN + AugFPN (SoftRoIExtractor; 64-channel neck,
    ResNet-18 with 32 base channels: the model ``make demo`` trains), random weights."""
    tmp = tmp_path_factory.mktemp("cascade")
    options = {
        "model.test_cfg.rcnn.score_thr": 0.0,
        "model.test_cfg.rcnn.max_per_img": 20,
        "model.test_cfg.rpn.max_per_img": 100,
    }
    return tmp, tiny_model(tmp, DEMO_CONFIG, options)


@pytest.fixture(scope="module")
def mask_rcnn(tmp_path_factory):
    """A tiny Mask R-CNN (FPN, SingleRoIExtractor, class-specific boxes)."""
    tmp = tmp_path_factory.mktemp("mask_rcnn")
    return tmp, tiny_model(tmp, MASK_RCNN_CONFIG, TINY_MASK_RCNN_OPTIONS)
