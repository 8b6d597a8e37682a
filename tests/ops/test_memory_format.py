"""``roi_pooling_layout``: the map RoIAlign reads, and the layout its gradient comes back in."""

import torch

from detkit.ops import RoIAlign, roi_pooling_layout


def test_cpu_map_is_channels_last_and_its_gradient_comes_back_nchw():
    """RoIAlign's channels_last gradient is handed back NCHW-contiguous (as the conv that
    made the map reads it), with the same values as a plain layout conversion gives."""
    torch.manual_seed(0)
    leaf = torch.randn(1, 4, 16, 20, requires_grad=True)
    feat = leaf * 1.0  # a conv's output, say (a leaf's .grad is laid out as the leaf)
    seen = []
    feat.register_hook(seen.append)
    rois = torch.tensor([[0, 1.0, 2.0, 30.0, 40.0], [0, 10.0, 5.0, 60.0, 50.0]])
    grad = torch.randn(2, 4, 3, 3)
    layer = RoIAlign(3, 0.25, 0, aligned=True)

    pooled_map = roi_pooling_layout(feat)
    assert pooled_map.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(pooled_map, feat)
    layer(pooled_map, rois).backward(grad)

    ref = leaf.detach().clone().requires_grad_(True)
    layer(ref.contiguous(memory_format=torch.channels_last), rois).backward(grad)
    assert seen[0].is_contiguous()
    assert torch.equal(seen[0], ref.grad)


def test_maps_already_in_layout_or_without_gradient_are_returned_as_they_are():
    feat = torch.randn(1, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    assert roi_pooling_layout(feat) is feat
    with torch.no_grad():
        plain = torch.randn(1, 4, 8, 8, requires_grad=True)
        assert roi_pooling_layout(plain).grad_fn is None


def test_conversions_copy_in_channel_blocks_with_the_same_values():
    """40 channels: two whole 16-channel blocks and a partial one, forward and gradient."""
    torch.manual_seed(0)
    leaf = torch.randn(2, 40, 9, 11, requires_grad=True)
    feat = leaf * 1.0
    seen = []
    feat.register_hook(seen.append)
    pooled_map = roi_pooling_layout(feat)
    assert pooled_map.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(pooled_map, feat)
    grad = torch.randn(2, 40, 9, 11).contiguous(memory_format=torch.channels_last)
    pooled_map.backward(grad)
    assert seen[0].is_contiguous() and torch.equal(seen[0], grad)
    with torch.no_grad():
        plain = roi_pooling_layout(leaf)
    assert plain.is_contiguous(memory_format=torch.channels_last) and torch.equal(plain, leaf)
