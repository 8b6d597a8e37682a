"""MMDetection v2's ``tests/test_models/test_necks/test_necks.py::test_fpn`` (2.x, as in v2.28),
ported: the constructor checks (``ValueError`` where mmdet asserts), ``add_extra_convs``
normalisation, lateral norms and the upsampling options. mmdet's shape lines there lack their
``assert`` (and would not hold with ``start_level=1``); here the shapes are asserted: output
``i`` has stride ``2 ** (i + 1)`` relative to the first input."""

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from detkit.models.necks import FPN

S, IN_CHANNELS, OUT_CHANNELS = 64, [8, 16, 32, 64], 8


def _feats():
    return [torch.rand(1, c, S // 2**i, S // 2**i) for i, c in enumerate(IN_CHANNELS)]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(start_level=1, end_level=2, num_outs=3),  # num_outs != end - start + 1
        dict(start_level=1, num_outs=2),  # fewer outputs than used inputs
        dict(start_level=1, end_level=4, num_outs=2),  # end_level past the inputs
        dict(start_level=1, end_level=3, num_outs=1),
        dict(start_level=1, add_extra_convs="on_xxx", num_outs=5),
    ],
)
def test_fpn_rejects_inconsistent_levels(kwargs):
    with pytest.raises(ValueError):
        FPN(in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS, **kwargs)


@pytest.mark.parametrize(
    "kwargs,extra",
    [
        (dict(add_extra_convs=True), "on_input"),
        (dict(add_extra_convs=False), False),
        (
            dict(
                add_extra_convs=True,
                no_norm_on_lateral=False,
                norm_cfg=dict(type="BN", requires_grad=True),
            ),
            "on_input",
        ),
        (
            dict(add_extra_convs=True, upsample_cfg=dict(mode="bilinear", align_corners=True)),
            "on_input",
        ),
        (dict(add_extra_convs=True, upsample_cfg=dict(scale_factor=2)), "on_input"),
        (dict(add_extra_convs="on_input"), "on_input"),
        (dict(add_extra_convs="on_lateral"), "on_lateral"),
        (dict(add_extra_convs="on_output"), "on_output"),
    ],
)
def test_fpn_outputs(kwargs, extra):
    # end_level=-1 and end_level=3 are the same pyramid
    for end_level in (-1, 3):
        FPN(
            in_channels=IN_CHANNELS,
            out_channels=OUT_CHANNELS,
            start_level=0,
            end_level=end_level,
            num_outs=5,
        )
    fpn = FPN(
        in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS, start_level=1, num_outs=5, **kwargs
    )
    assert fpn.add_extra_convs == extra
    outs = fpn(_feats())
    assert len(outs) == fpn.num_outs == 5
    for i, out in enumerate(outs):
        assert out.shape == (1, OUT_CHANNELS, S // 2 ** (i + 1), S // 2 ** (i + 1))
    has_bn = any(isinstance(m, _BatchNorm) for m in fpn.modules())
    assert has_bn == ("norm_cfg" in kwargs)
