"""Full R50-FPN models built from configs/_base_/models: parameter counts and the exact
state-dict keys and shapes of the reference (section 5.2)."""

from pathlib import Path

import pytest
import torch

import detkit
from detkit.models import build_detector

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "_base_" / "models"


def _model_cfg(name, num_classes=None):
    cfg = detkit.Config.fromfile(str(CONFIGS / f"{name}.py")).model
    cfg.backbone.init_cfg = None  # nothing is loaded
    if num_classes is not None:
        heads = cfg.roi_head.bbox_head
        for head in heads if isinstance(heads, list) else [heads]:
            head.num_classes = num_classes
        cfg.roi_head.mask_head.num_classes = num_classes
    return cfg


def _expected_cascade_shapes(num_classes):
    """Section 5.2 of the reference, written out."""
    shapes = {"backbone.conv1.weight": (64, 3, 7, 7)}

    def bn(prefix, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("backbone.bn1", 64)
    cin = 64
    for s, (blocks, planes) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"backbone.layer{s}.{b}"
            block_in = cin if b == 0 else 4 * planes
            shapes[f"{p}.conv1.weight"] = (planes, block_in, 1, 1)
            bn(f"{p}.bn1", planes)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            shapes[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            bn(f"{p}.bn3", 4 * planes)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (4 * planes, cin, 1, 1)
                bn(f"{p}.downsample.1", 4 * planes)
        cin = 4 * planes
    for i, c in enumerate((256, 512, 1024, 2048)):
        shapes[f"neck.lateral_convs.{i}.conv.weight"] = (256, c, 1, 1)
        shapes[f"neck.lateral_convs.{i}.conv.bias"] = (256,)
        shapes[f"neck.fpn_convs.{i}.conv.weight"] = (256, 256, 3, 3)
        shapes[f"neck.fpn_convs.{i}.conv.bias"] = (256,)
    shapes.update(
        {
            "rpn_head.rpn_conv.weight": (256, 256, 3, 3),
            "rpn_head.rpn_conv.bias": (256,),
            "rpn_head.rpn_cls.weight": (3, 256, 1, 1),
            "rpn_head.rpn_cls.bias": (3,),
            "rpn_head.rpn_reg.weight": (12, 256, 1, 1),
            "rpn_head.rpn_reg.bias": (12,),
        }
    )
    for s in range(3):
        b = f"roi_head.bbox_head.{s}"
        shapes.update(
            {
                f"{b}.fc_cls.weight": (num_classes + 1, 1024),
                f"{b}.fc_cls.bias": (num_classes + 1,),
                f"{b}.fc_reg.weight": (4, 1024),
                f"{b}.fc_reg.bias": (4,),
                f"{b}.shared_fcs.0.weight": (1024, 12544),
                f"{b}.shared_fcs.0.bias": (1024,),
                f"{b}.shared_fcs.1.weight": (1024, 1024),
                f"{b}.shared_fcs.1.bias": (1024,),
            }
        )
        m = f"roi_head.mask_head.{s}"
        for i in range(4):
            shapes[f"{m}.convs.{i}.conv.weight"] = (256, 256, 3, 3)
            shapes[f"{m}.convs.{i}.conv.bias"] = (256,)
        shapes.update(
            {
                f"{m}.upsample.weight": (256, 256, 2, 2),
                f"{m}.upsample.bias": (256,),
                f"{m}.conv_logits.weight": (num_classes, 256, 1, 1),
                f"{m}.conv_logits.bias": (num_classes,),
            }
        )
    return shapes


@pytest.fixture(scope="module")
def seed_model():
    return build_detector(_model_cfg("cascade_mask_rcnn_r50_fpn", num_classes=8))


def test_seed_cascade_parameter_count_and_keys(seed_model):
    assert sum(p.numel() for p in seed_model.parameters()) == 77_047_694
    state = seed_model.state_dict()
    assert len(state) == 400
    assert sum(k.startswith("backbone.") for k in state) == 318
    assert {k: tuple(v.shape) for k, v in state.items()} == _expected_cascade_shapes(8)
    # mmdet's order inside a bbox head: fc_cls, fc_reg, then shared_fcs
    head_keys = [k for k in state if k.startswith("roi_head.bbox_head.0.")]
    assert head_keys[0].endswith("fc_cls.weight") and head_keys[2].endswith("fc_reg.weight")


def test_seed_model_frozen_stage_and_num_classes(seed_model):
    seed_model.train()
    assert not seed_model.backbone.layer1[0].conv1.weight.requires_grad
    assert seed_model.backbone.layer2[0].conv1.weight.requires_grad
    assert not seed_model.backbone.layer3[0].bn1.training  # norm_eval
    assert seed_model.num_classes == 8
    assert all(h.num_classes == 8 for h in seed_model.roi_head.mask_head)


def test_coco_cascade_and_mask_rcnn_counts():
    cascade = build_detector(_model_cfg("cascade_mask_rcnn_r50_fpn"))
    assert sum(p.numel() for p in cascade.parameters()) == 77_324_606
    mask_rcnn = build_detector(_model_cfg("mask_rcnn_r50_fpn")).state_dict()
    assert tuple(mask_rcnn["roi_head.bbox_head.fc_reg.weight"].shape) == (320, 1024)
    assert tuple(mask_rcnn["roi_head.mask_head.conv_logits.weight"].shape) == (80, 256, 1, 1)
    faster = build_detector(_model_cfg("faster_rcnn_r50_fpn")).state_dict()
    assert not any(k.startswith("roi_head.mask_head") for k in faster)


def test_pretrained_backbone_is_loaded_by_init_weights(tmp_path):
    """``init_cfg=Pretrained`` on the backbone loads through detkit.checkpoint (a local file
    here: no network), only when init_weights() runs."""
    cfg = _model_cfg("faster_rcnn_r50_fpn")
    cfg.backbone.depth = 18
    cfg.neck.in_channels = [64, 128, 256, 512]
    source = build_detector(cfg).backbone
    with torch.no_grad():
        source.conv1.weight.fill_(0.25)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    cfg.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(path))
    model = build_detector(cfg)
    assert not torch.all(model.backbone.conv1.weight == 0.25)
    model.init_weights(logger="silent")
    assert torch.all(model.backbone.conv1.weight == 0.25)
    cfg.backbone.init_cfg = None
    cfg.pretrained = str(path)  # the v2 key
    model = build_detector(cfg)
    model.init_weights(logger="silent")
    assert torch.all(model.backbone.conv1.weight == 0.25)
