"""Tiny detectors (random weights, score threshold 0), sample images, the comparison of two
detectors' results and the tools' entry points, for the deploy tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

import detkit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "engine"))
from tiny_demo import DEMO_CONFIG, TINY_CHANNELS_OPTIONS  # noqa: E402, F401 (DEMO_CONFIG for conftest)

CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
MASK_RCNN_CONFIG = "configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py"
TINY_MASK_RCNN_OPTIONS = {
    **TINY_CHANNELS_OPTIONS,
    "model.backbone.depth": 18,
    "model.roi_head.bbox_head.in_channels": 16,
    "model.roi_head.bbox_head.fc_out_channels": 32,
    "model.test_cfg.rpn.max_per_img": 100,
}
# padded network inputs of 96x192 and 96x96 (the test pipeline resizes into 192x96)
IMAGE_SIZES = ((96, 192), (150, 150))


def tiny_model(tmp: Path, config: str, options: dict, seed: int = 0) -> torch.nn.Module:
    """``init_detector`` of a checkpoint with random (``init_weights``) weights."""
    cfg = detkit.Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(options)
    detkit.set_img_scale(cfg, (192, 96))
    torch.manual_seed(seed)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    checkpoint = tmp / "model.pth"
    detkit.save_checkpoint(model, str(checkpoint), meta=dict(CLASSES=CLASSES))
    config_file = tmp / "config.py"
    cfg.dump(str(config_file))
    return detkit.init_detector(str(config_file), str(checkpoint))


def images(sizes=IMAGE_SIZES, seed: int = 0) -> list[np.ndarray]:
    """HWC uint8 BGR images with a few flat shapes on noise."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 255, 3)
        out.append(img)
    return out


def assert_same_detections(ref, got) -> None:
    """Same detections (the issue's tolerances): box |Δ| ≤ 1e-2 px, score |Δ| ≤ 1e-4,
    equal labels, mask IoU ≥ 0.99; ``ref``/``got`` are ``flatten_result`` tuples."""
    ref_boxes, ref_scores, ref_labels, ref_masks = ref
    boxes, scores, labels, masks = got
    assert len(ref_boxes) > 0 and boxes.shape == ref_boxes.shape
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(boxes, ref_boxes, rtol=0, atol=1e-2)
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-4)
    if ref_masks is None:
        assert masks is None
        return
    assert masks.shape == ref_masks.shape
    inter = (masks & ref_masks).sum((1, 2))
    union = (masks | ref_masks).sum((1, 2))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    assert iou.min() >= 0.99, iou.min()


def load_tool(relative: str):
    """A tool script (``tools/...py``) as a module."""
    spec = importlib.util.spec_from_file_location(Path(relative).stem, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
