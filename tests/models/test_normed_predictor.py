"""``NormedLinear`` / ``NormedConv2d`` / ``build_linear_layer`` against MMDetection v2.28's
``mmdet/models/utils/normed_predictor.py`` (re-stated: scaled cosine similarity, norms raised to
``power`` plus ``eps``; N(0, 0.01) weight and zero bias for the linear form) and
``mmdet/models/utils/builder.py::build_linear_layer``."""

import pytest
import torch
import torch.nn.functional as F

from detkit.models.layers import NormedConv2d, NormedLinear, build_linear_layer
from detkit.registry import MODELS, build


def test_normed_linear_is_scaled_cosine_similarity():
    torch.manual_seed(0)
    layer = NormedLinear(16, 5, tempearture=20, eps=0.0)
    assert dict(layer.named_parameters()).keys() == {"weight", "bias"}
    assert layer.bias.abs().sum() == 0 and 0.005 < layer.weight.std() < 0.015
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(7, 16)
    cos = F.cosine_similarity(x[:, None], layer.weight[None], dim=-1)
    torch.testing.assert_close(layer(x), 20 * cos + layer.bias)
    # power and eps enter as |v| ** power + eps
    layer = NormedLinear(16, 5, tempearture=2.0, power=2.0, eps=0.5, bias=False)
    w = layer.weight / (layer.weight.norm(dim=1, keepdim=True) ** 2 + 0.5)
    xn = x / (x.norm(dim=1, keepdim=True) ** 2 + 0.5)
    torch.testing.assert_close(layer(x), 2.0 * xn @ w.t())


def test_normed_conv2d_per_position_and_over_kernel():
    torch.manual_seed(1)
    x = torch.randn(2, 6, 5, 5)
    for over_kernel in (False, True):
        conv = NormedConv2d(
            6, 3, 3, padding=1, tempearture=10, eps=1e-6, norm_over_kernel=over_kernel
        )
        w = conv.weight
        if over_kernel:
            norm = w.flatten(1).norm(dim=1)[:, None, None, None]
        else:
            norm = w.norm(dim=1, keepdim=True)
        xn = 10 * x / (x.norm(dim=1, keepdim=True) + 1e-6)
        expect = F.conv2d(xn, w / (norm + 1e-6), conv.bias, padding=1)
        torch.testing.assert_close(conv(x), expect)
    # a 1x1 normed conv at one pixel equals the normed linear map of that pixel's channels
    conv = NormedConv2d(6, 3, 1, tempearture=20, bias=False)
    lin = NormedLinear(6, 3, tempearture=20, bias=False)
    lin.weight.data.copy_(conv.weight.data.view(3, 6))
    torch.testing.assert_close(conv(x)[:, :, 2, 3], lin(x[:, :, 2, 3]))


def test_temperature_spellings_and_builders():
    assert NormedLinear(4, 2).tempearture == 20.0
    assert NormedLinear(4, 2, temperature=5).tempearture == 5.0
    with pytest.raises(TypeError, match="not both"):
        NormedConv2d(4, 2, 1, tempearture=1, temperature=2)
    # the seesaw configs' spellings (cls_predictor_cfg / predictor_cfg)
    lin = build_linear_layer(dict(type="NormedLinear", tempearture=20), 1024, 1205)
    assert isinstance(lin, NormedLinear) and lin.weight.shape == (1205, 1024)
    plain = build_linear_layer(None, 8, 3)
    assert type(plain).__name__ == "Linear" and not isinstance(plain, NormedLinear)
    assert build_linear_layer(dict(type="Linear"), 8, 3, bias=False).bias is None
    conv = build(
        dict(type="NormedConv2d", tempearture=20),
        MODELS,
        default_args=dict(in_channels=4, out_channels=2, kernel_size=1),
    )
    assert isinstance(conv, NormedConv2d)
    with pytest.raises(KeyError, match="NormedLinaer"):
        build_linear_layer(dict(type="NormedLinaer"), 8, 3)
