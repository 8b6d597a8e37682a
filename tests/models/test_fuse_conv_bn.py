"""fuse_conv_bn folds eval-mode BatchNorms into the convs before them."""

import pytest
import torch

from detkit.models.backbones import ResNet
from detkit.models.layers import ConvModule, fuse_conv_bn


def _randomise_norms(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


def test_fused_resnet_and_conv_module_compute_the_same():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        ResNet(depth=18, base_channels=8, out_indices=(3,)),
        ConvModule(64, 16, 3, padding=1, norm_cfg=dict(type="BN")),
    )
    _randomise_norms(model)
    model.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ref = model[1](model[0](x)[0])
        fuse_conv_bn(model)
        out = model[1](model[0](x)[0])
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert "0.layer2.0.downsample.0.bias" in model.state_dict()  # folded into the 1x1 conv


def test_training_mode_norm_is_refused():
    block = ConvModule(4, 4, 3, norm_cfg=dict(type="BN"))
    with pytest.raises(ValueError, match="eval-mode BatchNorm"):
        fuse_conv_bn(block)
