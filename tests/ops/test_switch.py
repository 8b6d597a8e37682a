"""The one switch: with ``fast_kernels(False)`` (or ``DETKIT_FAST_KERNELS=0``) a detector runs
stock PyTorch only (no NNPACK, no oneDNN products called by detkit, torchvision's RoIAlign),
with the stock results; with the fast kernels pinned on it runs them, with results within the
kernels' tolerances. Also the layout ops: the ResNet stem and the RoI pooling maps."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import detkit
from detkit.ops import (
    RoIAlign,
    channels_last_where_faster,
    fast_kernels,
    fast_kernels_enabled,
    force_kernels,
    roi_pooling_layout,
)

GOLDEN = Path(__file__).resolve().parents[2] / ".." / "shared" / "golden" / "mmdet_v2_cascade_tiny"
FAST_OPS = {
    "aten._nnpack_spatial_convolution",
    "mkldnn._linear_pointwise",
    "detkit.roi_align",
    "detkit.roi_align_backward",
}
ALL_FAST = dict(
    conv3x3="nnpack",
    conv3x3_input_grad="nnpack",
    conv3x3_weight_grad="winograd_onednn",
    conv1x1="onednn",
    conv1x1_backward="onednn",
    linear="onednn",
    linear_backward="onednn",
    roi_mosaic="mosaic",
    deconv="channels_last",
)


class _Ops(TorchDispatchMode):
    """Records the names of the ops dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _golden_model():
    """The golden model; its samplers take every RoI (as the golden losses do), so the
    training step samples nothing at random, and its BatchNorm layers stay in eval mode (the
    configs' ``norm_eval``: batch statistics would amplify rounding in the gradients)."""
    cfg = copy.deepcopy(detkit.Config.fromfile(str(GOLDEN / "config.py")).model)
    cfg.backbone.norm_eval = True
    cfg.train_cfg.rpn.sampler.update(num=100000, pos_fraction=1.0)
    for stage in cfg.train_cfg.rcnn:
        stage.sampler.update(num=100000, pos_fraction=1.0)
    model = detkit.build_detector(cfg)
    detkit.load_checkpoint(model, str(GOLDEN / "checkpoint.pth"), strict=True, logger="silent")
    return model.eval()


def _forward_backward(model):
    """Detections of the golden photo, and the loss and gradients of one training step."""
    inputs = torch.load(GOLDEN / "input.pt", weights_only=True)
    train = torch.load(GOLDEN / "train_input.pt", weights_only=True)
    with torch.no_grad():
        result = model.predict(inputs["img"], [dict(inputs["img_metas"][0])], rescale=True)[0]
    model.train()
    losses = model.forward_train(
        train["img"],
        copy.deepcopy(train["img_metas"]),
        train["gt_bboxes"],
        train["gt_labels"],
        gt_masks=list(train["gt_masks"]),
    )
    loss, _ = detkit.models.parse_losses(losses)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    model.eval()
    return result, loss.detach(), grads


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="../shared golden data not present")
def test_switch_off_runs_stock_pytorch_and_pinned_fast_kernels_agree():
    with fast_kernels(False), _Ops() as stock_ops:
        stock = _forward_backward(_golden_model())
    assert not stock_ops.names & FAST_OPS
    assert "torchvision.roi_align" in stock_ops.names
    with force_kernels(ALL_FAST), _Ops() as fast_ops:
        fast = _forward_backward(_golden_model())  # a fresh one: training moved BN statistics
    assert FAST_OPS <= fast_ops.names
    # the same detections (scores to 1e-4) and loss; gradients to Winograd's rounding, also
    # through the ReLUs whose input it moves across 0
    assert len(fast[0]) == len(stock[0])
    torch.testing.assert_close(fast[0].scores, stock[0].scores, rtol=0, atol=1e-4)
    torch.testing.assert_close(fast[1], stock[1], rtol=1e-4, atol=1e-6)
    errors = [
        ((a - b).norm() / b.norm().clamp(min=1e-12)).item() for a, b in zip(fast[2], stock[2])
    ]
    assert max(errors) < 2e-2, errors


def test_switch_restores_and_reads_the_environment():
    assert fast_kernels_enabled()
    with fast_kernels(False):
        assert not fast_kernels_enabled()
    assert fast_kernels_enabled()
    script = "import detkit.ops as o; print(o.fast_kernels_enabled())"
    env = dict(os.environ, DETKIT_FAST_KERNELS="0")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "False", run.stderr[-2000:]


def test_roi_align_and_pooling_maps_follow_the_switch():
    torch.manual_seed(0)
    feat = torch.randn(1, 8, 20, 24)
    rois = torch.tensor([[0, 2.0, 3.0, 50.0, 60.0], [0, 10.0, 5.0, 80.0, 70.0]])
    layer = RoIAlign(7, 0.25, 0, aligned=True)
    ref = torch.ops.torchvision.roi_align(feat, rois, 0.25, 7, 7, 0, True)
    with fast_kernels(False), _Ops() as ops:
        stock_map = roi_pooling_layout(feat)
        stock = layer(stock_map, rois)
    assert stock_map is feat and "detkit.roi_align" not in ops.names
    assert torch.equal(stock, ref)
    fast_map = roi_pooling_layout(feat)
    assert fast_map.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(fast_map, rois), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("choice", ["pytorch", "channels_last"])
def test_stem_on_either_layout_gives_the_same_values(choice):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 7, stride=2, padding=3)
    pool = torch.nn.MaxPool2d(3, 2, 1)

    def stem(t):
        return pool(torch.relu(conv(t)))

    x = torch.randn(1, 3, 64, 96)
    with force_kernels({"layout:stem_test": choice}), _Ops() as ops:
        out = channels_last_where_faster("stem_test", stem, x, measurable=True)
    assert out.is_contiguous()
    torch.testing.assert_close(out, stem(x), rtol=1e-5, atol=1e-5)
    relayout_copies = sum(name == "aten.copy_" for name in ops.names)
    assert (relayout_copies > 0) == (choice == "channels_last")


def test_stem_with_side_effects_is_not_measured():
    calls = []

    def stem(t):
        calls.append(1)
        return t * 2

    x = torch.randn(1, 3, 8, 8)
    out = channels_last_where_faster("stem_untimed", stem, x, measurable=False)
    assert len(calls) == 1 and torch.equal(out, x * 2)
