"""detkit's RoIAlign call: channel slices on threads give torchvision's values and gradients."""

import pytest
import torch
from torchvision.ops import RoIAlign

from detkit.models.roi_heads import roi_align as roi_align_module
from detkit.models.roi_heads.roi_align import roi_align


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _inputs(num_rois=300, channels=64):
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(2, channels, 40, 60, generator=gen)
    xy = torch.rand(num_rois, 2, generator=gen) * torch.tensor([400.0, 250.0])
    wh = 5 + torch.rand(num_rois, 2, generator=gen) * 200
    batch = torch.randint(0, 2, (num_rois, 1), generator=gen).float()
    return feat, torch.cat([batch, xy, xy + wh], 1)


@pytest.mark.parametrize("sampling_ratio,aligned", [(0, True), (2, False)])
def test_threaded_channel_slices_equal_one_call(two_threads, sampling_ratio, aligned):
    layer = RoIAlign(7, 1 / 8, sampling_ratio, aligned)
    feat, rois = _inputs()
    assert roi_align_module._thread_slices(feat, rois.size(0), (7, 7)) == 2
    feat_ours = feat.clone().requires_grad_()
    feat_ref = feat.clone().requires_grad_()
    ours = roi_align(layer, feat_ours, rois)
    ref = layer(feat_ref, rois)
    assert torch.equal(ours, ref)
    grad = torch.randn_like(ref)
    ours.backward(grad)
    ref.backward(grad)
    assert torch.equal(feat_ours.grad, feat_ref.grad)
    with torch.inference_mode():
        assert torch.equal(roi_align(layer, feat, rois), ref.detach())


def test_small_inputs_and_one_thread_use_a_single_call(two_threads):
    feat, rois = _inputs(num_rois=3, channels=8)
    assert roi_align_module._thread_slices(feat, 3, (7, 7)) == 1
    torch.set_num_threads(1)
    feat, rois = _inputs()
    assert roi_align_module._thread_slices(feat, rois.size(0), (7, 7)) == 1


def test_low_precision_map_is_pooled_with_float32_boxes():
    layer = RoIAlign(7, 1 / 8, 0, True)
    feat, rois = _inputs(num_rois=20)
    low = feat.bfloat16()
    out = roi_align(layer, low, rois)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), layer(low.float(), rois).bfloat16().float())
