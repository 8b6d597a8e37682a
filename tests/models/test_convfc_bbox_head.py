"""``ConvFCBBoxHead`` in MMDetection v2.28's forms: ``Shared2FCBBoxHead``,
``Shared4Conv1FCBBoxHead`` (GN in the head), separate cls/reg branches, and the
``cls_predictor_cfg`` / ``reg_predictor_cfg`` predictors.

Pins ``mmdet/models/roi_heads/bbox_heads/convfc_bbox_head.py`` (v2.28): ``__init__``'s asserts
(some branch non-empty; cls/reg convs only without shared fcs), ``_add_conv_fc_branch`` (3×3
ConvModules with padding 1, the first fc of a branch flattens ``roi_feat_area`` channels when
the branch is shared or there are no shared fcs), the ``cls_last_dim``/``reg_last_dim`` times
``roi_feat_area`` when neither the branch nor the shared part has fcs, ``fc_cls`` /
``fc_reg`` built by ``build_linear_layer(cls_predictor_cfg / reg_predictor_cfg, ...)``, the
``Shared2FCBBoxHead`` / ``Shared4Conv1FCBBoxHead`` depths, and ``init_cfg`` (Xavier-uniform
shared/cls/reg fcs with zero bias; ``bbox_head.py``: Normal 0.01 ``fc_cls``, 0.001
``fc_reg``). Key names are mmcv ``ConvModule``'s (``conv``, ``gn``; no conv bias with a norm).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import detkit
from detkit.models.layers import NormedLinear
from detkit.models.roi_heads import (
    ConvFCBBoxHead,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
)
from detkit.registry import MODELS, build

GN = dict(type="GN", num_groups=32, requires_grad=True)


def _shapes(head: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in head.state_dict().items()}


def test_shared4conv1fc_with_gn_has_mmdets_keys_in_order() -> None:
    head = build(
        dict(type="Shared4Conv1FCBBoxHead", conv_out_channels=256, norm_cfg=GN, num_classes=8),
        MODELS,
    )
    assert isinstance(head, Shared4Conv1FCBBoxHead)
    expected = {"fc_cls.weight": (9, 1024), "fc_cls.bias": (9,)}
    expected |= {"fc_reg.weight": (32, 1024), "fc_reg.bias": (32,)}
    for i in range(4):
        expected[f"shared_convs.{i}.conv.weight"] = (256, 256, 3, 3)
        expected[f"shared_convs.{i}.gn.weight"] = (256,)
        expected[f"shared_convs.{i}.gn.bias"] = (256,)
    expected |= {"shared_fcs.0.weight": (1024, 256 * 49), "shared_fcs.0.bias": (1024,)}
    shapes = _shapes(head)
    assert list(shapes) == list(expected) and shapes == expected
    cls_score, bbox_pred = head(torch.randn(3, 256, 7, 7))
    assert cls_score.shape == (3, 9) and bbox_pred.shape == (3, 32)


def test_shared2fc_keys_are_unchanged() -> None:
    head = Shared2FCBBoxHead(in_channels=16, fc_out_channels=32, roi_feat_size=7, num_classes=3)
    assert _shapes(head) == {
        "fc_cls.weight": (4, 32),
        "fc_cls.bias": (4,),
        "fc_reg.weight": (12, 32),
        "fc_reg.bias": (12,),
        "shared_fcs.0.weight": (32, 16 * 49),
        "shared_fcs.0.bias": (32,),
        "shared_fcs.1.weight": (32, 32),
        "shared_fcs.1.bias": (32,),
    }


def test_separate_branches_flatten_where_mmdet_does() -> None:
    """1 shared conv, then cls conv + fc and reg conv + fc: with no shared fcs each branch's
    first fc takes ``conv_out_channels * 7 * 7``; class-agnostic regression has 4 outputs."""
    head = ConvFCBBoxHead(
        num_shared_convs=1,
        num_cls_convs=1,
        num_cls_fcs=1,
        num_reg_convs=1,
        num_reg_fcs=1,
        in_channels=8,
        conv_out_channels=16,
        fc_out_channels=24,
        num_classes=5,
        reg_class_agnostic=True,
    )
    shapes = _shapes(head)
    assert shapes["shared_convs.0.conv.weight"] == (16, 8, 3, 3)
    assert shapes["shared_convs.0.conv.bias"] == (16,)  # no norm: the conv keeps its bias
    assert shapes["cls_convs.0.conv.weight"] == shapes["reg_convs.0.conv.weight"] == (16, 16, 3, 3)
    assert shapes["cls_fcs.0.weight"] == shapes["reg_fcs.0.weight"] == (24, 16 * 49)
    assert shapes["fc_cls.weight"] == (6, 24) and shapes["fc_reg.weight"] == (4, 24)
    cls_score, bbox_pred = head(torch.randn(2, 8, 7, 7))
    assert cls_score.shape == (2, 6) and bbox_pred.shape == (2, 4)


def test_convs_only_predict_from_the_flattened_map() -> None:
    head = ConvFCBBoxHead(num_shared_convs=2, in_channels=8, conv_out_channels=4, num_classes=2)
    shapes = _shapes(head)
    assert shapes["fc_cls.weight"] == (3, 4 * 49) and shapes["fc_reg.weight"] == (8, 4 * 49)
    assert head(torch.randn(1, 8, 7, 7))[0].shape == (1, 3)


def test_shared_fcs_then_branch_fcs_do_not_flatten_again() -> None:
    head = ConvFCBBoxHead(
        num_shared_fcs=1, num_cls_fcs=2, in_channels=4, fc_out_channels=10, num_classes=2
    )
    shapes = _shapes(head)
    assert shapes["shared_fcs.0.weight"] == (10, 4 * 49)
    assert shapes["cls_fcs.0.weight"] == shapes["cls_fcs.1.weight"] == (10, 10)
    assert shapes["fc_reg.weight"] == (8, 10)


def test_normed_linear_predictor_with_temperature() -> None:
    """``cls_predictor_cfg=dict(type='NormedLinear', tempearture=20)`` (mmdet's Seesaw configs'
    spelling): ``fc_cls`` is a cosine classifier with mmdet's keys; scores minus the bias lie in
    [-20, 20]."""
    head = Shared2FCBBoxHead(
        in_channels=8,
        fc_out_channels=16,
        num_classes=4,
        cls_predictor_cfg=dict(type="NormedLinear", tempearture=20),
    )
    assert isinstance(head.fc_cls, NormedLinear) and head.fc_cls.tempearture == 20
    assert type(head.fc_reg) is not NormedLinear
    assert list(_shapes(head))[:2] == ["fc_cls.weight", "fc_cls.bias"]
    x = torch.randn(6, 8, 7, 7) * 50
    cls_score, _ = head(x)
    assert ((cls_score - head.fc_cls.bias).abs() <= 20 + 1e-4).all()
    features = head.relu(head.shared_fcs[1](head.relu(head.shared_fcs[0](x.flatten(1)))))
    weight = head.fc_cls.weight / (head.fc_cls.weight.norm(dim=1, keepdim=True) + 1e-6)
    cosine = features / (features.norm(dim=1, keepdim=True) + 1e-6) @ weight.t()
    torch.testing.assert_close(cls_score, 20 * cosine + head.fc_cls.bias)
    reg = Shared2FCBBoxHead(
        in_channels=8, num_classes=4, reg_predictor_cfg=dict(type="NormedLinear", temperature=5)
    )
    assert isinstance(reg.fc_reg, NormedLinear) and reg.fc_reg.tempearture == 5


def test_init_follows_mmdets_init_cfg() -> None:
    torch.manual_seed(0)
    head = Shared4Conv1FCBBoxHead(in_channels=256, fc_out_channels=1024, num_classes=8)
    fc = head.shared_fcs[0]
    bound = (6 / (fc.in_features + fc.out_features)) ** 0.5
    assert fc.weight.abs().max() <= bound and fc.weight.abs().max() > 0.9 * bound
    assert not fc.bias.any() and not head.fc_cls.bias.any() and not head.fc_reg.bias.any()
    assert head.fc_cls.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert head.fc_reg.weight.std().item() == pytest.approx(0.001, rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(), ValueError, "all branches are empty"),
        (dict(num_shared_fcs=1, num_cls_convs=1), ValueError, "need num_shared_fcs=0"),
    ],
)
def test_convfc_refuses_mmdets_asserted_layouts(
    kwargs: dict[str, int], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ConvFCBBoxHead(**kwargs)


@pytest.mark.parametrize("cls", [Shared2FCBBoxHead, Shared4Conv1FCBBoxHead])
def test_fixed_heads_refuse_their_depths(cls: type[ConvFCBBoxHead]) -> None:
    with pytest.raises(TypeError, match=f"{cls.__name__} fixes num_shared_convs"):
        cls(num_shared_convs=2)


@pytest.mark.parametrize(
    "name",
    ["mask_rcnn_r50_fpn_gn-all_cpu_cityscapes", "mask_rcnn_r50_fpn_gn-ws-all_cpu_cityscapes"],
)
def test_gn_zoo_configs_build_shared4conv1fc_with_gn(name: str) -> None:
    """The zoo's GN configs (mmdet's ``gn/mask_rcnn_r50_fpn_gn-all_2x_coco.py`` and
    ``gn+ws/mask_rcnn_r50_fpn_gn_ws-all_2x_coco.py``) give the box head mmdet's type and keys;
    ``test_zoo_configs`` trains each one step."""
    root = Path(__file__).resolve().parents[2]
    cfg = detkit.Config.fromfile(str(root / "configs" / "zoo" / f"{name}.py"))
    head = build(cfg.model.roi_head.bbox_head, MODELS)
    assert isinstance(head, Shared4Conv1FCBBoxHead)
    keys = list(head.state_dict())
    assert "shared_convs.3.gn.weight" in keys and "shared_convs.0.conv.bias" not in keys
