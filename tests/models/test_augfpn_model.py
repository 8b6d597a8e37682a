"""AugFPN in a full (tiny) Cascade Mask R-CNN: DDP-safe gradients, switchable components,
FPN checkpoints, consistent supervision only in training, the seed config."""

from pathlib import Path

import pytest
import torch
from torchvision.ops import roi_align

import detkit
from detkit.models import build_detector
from detkit.structures import Instances

ROOT = Path(__file__).resolve().parents[2]
BASE_MODEL = ROOT / "configs" / "_base_" / "models" / "cascade_mask_rcnn_r50_fpn.py"
SEED = ROOT / "configs" / "cityscapes" / "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
WIDTH, NUM_CLASSES = 16, 3


def _tiny_cfg(rfa: bool = True, srs: bool = True, cs: bool = True, neck: str = "AugFPN"):
    """The base cascade config shrunk (R18/8, 16-channel neck, 3 classes) with AugFPN parts."""
    cfg = detkit.Config.fromfile(str(BASE_MODEL)).model
    cfg.backbone.update(depth=18, base_channels=8, init_cfg=None, frozen_stages=-1, norm_eval=False)
    cfg.neck = dict(type=neck, in_channels=[8, 16, 32, 64], out_channels=WIDTH, num_outs=5)
    if neck == "AugFPN":
        cfg.neck["use_rfa"] = rfa
    cfg.rpn_head.update(in_channels=WIDTH, feat_channels=WIDTH)
    roi = cfg.roi_head
    extractor = "SoftRoIExtractor" if srs else "SingleRoIExtractor"
    roi.bbox_roi_extractor.update(type=extractor, out_channels=WIDTH)
    roi.mask_roi_extractor.update(type=extractor, out_channels=WIDTH)
    for head in roi.bbox_head:
        head.update(in_channels=WIDTH, fc_out_channels=32, num_classes=NUM_CLASSES)
    roi.mask_head.update(in_channels=WIDTH, conv_out_channels=WIDTH, num_classes=NUM_CLASSES)
    roi.type = "AugFPNCascadeRoIHead"
    roi.consistent_supervision = dict(loss_weight=0.25) if cs else None
    for stage in cfg.train_cfg.rcnn:
        stage.sampler.num = 32
    cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    return cfg


def _batch():
    gen = torch.Generator().manual_seed(0)
    img = torch.randn(1, 3, 64, 96, generator=gen)
    boxes = torch.tensor([[4.0, 6.0, 40.0, 50.0], [50.0, 10.0, 90.0, 30.0]])
    masks = torch.zeros(2, 64, 96, dtype=torch.uint8)
    masks[0, 10:45, 8:36] = 1
    masks[1, 12:28, 55:85] = 1
    meta = dict(
        img_shape=(64, 96, 3),
        ori_shape=(64, 96, 3),
        pad_shape=(64, 96, 3),
        scale_factor=[1.0, 1.0, 1.0, 1.0],
        flip=False,
    )
    return dict(
        img=img,
        img_metas=[meta],
        gt_bboxes=[boxes],
        gt_labels=[torch.tensor([0, 2])],
        gt_masks=[masks],
    )


def _model(**kwargs):
    torch.manual_seed(0)
    model = build_detector(_tiny_cfg(**kwargs))
    model.init_weights()
    return model


def test_training_step_gives_every_parameter_a_gradient():
    model = _model()
    model.train()
    torch.manual_seed(1)
    losses = model(**_batch())
    assert {"s0.aux.loss_cls", "s0.aux.loss_bbox", "s0.aux.loss_mask", "s0.aux.acc"} <= set(losses)
    assert not any(k.startswith(("s1.aux", "s2.aux")) for k in losses)
    total = sum(
        v.sum() if torch.is_tensor(v) else sum(x.sum() for x in v)
        for k, v in losses.items()
        if "loss" in k
    )
    total.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    groups = ("neck.rfa.", "spatial_attention", "roi_head.consistent_supervision.")
    for group in groups:
        names = [n for n, _ in model.named_parameters() if group in n]
        assert names, group
        assert all(
            dict(model.named_parameters())[n].grad.abs().sum() > 0
            for n in names
            if not n.endswith("conv_logits.weight")
        ), group


def test_switching_each_component_off_removes_exactly_its_parameters():
    def keys(**kwargs):
        return set(build_detector(_tiny_cfg(**kwargs)).state_dict())

    full = keys()
    assert full - keys(rfa=False) == {k for k in full if k.startswith("neck.rfa.")}
    srs_keys = full - keys(srs=False)
    assert srs_keys == {k for k in full if ".spatial_attention." in k}
    assert {k.split(".spatial_attention")[0] for k in srs_keys} == {
        f"roi_head.{branch}_roi_extractor.{s}" for branch in ("bbox", "mask") for s in range(3)
    }
    cs_keys = full - keys(cs=False)
    assert cs_keys == {k for k in full if k.startswith("roi_head.consistent_supervision.")}
    assert {k.split(".")[2] for k in cs_keys} == {"bbox_head", "mask_head"}
    assert keys(rfa=False, srs=False, cs=False) == keys(rfa=False, srs=False, cs=False, neck="FPN")
    for smaller in (keys(rfa=False), keys(srs=False), keys(cs=False)):
        assert smaller < full


def test_fpn_model_state_dict_fills_every_fpn_named_tensor():
    fpn_model = _model(rfa=False, srs=False, cs=False, neck="FPN")
    aug_model = _model()
    fpn_state = fpn_model.state_dict()
    report = aug_model.load_state_dict(fpn_state, strict=False)
    assert report.unexpected_keys == []
    assert set(report.missing_keys) == set(aug_model.state_dict()) - set(fpn_state)
    assert all(
        k.startswith(("neck.rfa.", "roi_head.consistent_supervision."))
        or ".spatial_attention." in k
        for k in report.missing_keys
    )
    aug_state = aug_model.state_dict()
    assert all(torch.equal(aug_state[k], v) for k, v in fpn_state.items())


def test_load_checkpoint_reports_the_augfpn_parameters_as_newly_initialised(tmp_path):
    from detkit.checkpoint import load_checkpoint

    fpn_state = _model(rfa=False, srs=False, cs=False, neck="FPN").state_dict()
    path = tmp_path / "fpn.pth"
    torch.save({"state_dict": fpn_state, "meta": {}}, path)
    aug_model = _model()
    report = load_checkpoint(aug_model, str(path))["load_report"]
    assert sorted(report.loaded) == sorted(fpn_state)
    assert report.unexpected == [] and report.mismatched == []
    assert set(report.missing) == set(aug_model.state_dict()) - set(fpn_state)
    table = report.table()
    for group in (
        "neck.rfa.",
        "roi_head.bbox_roi_extractor.",
        "roi_head.mask_roi_extractor.",
        "roi_head.consistent_supervision.",
    ):
        assert any(line.startswith("missing") and group in line for line in table.splitlines()), (
            group
        )


def test_inference_does_not_run_the_auxiliary_heads():
    model = _model()
    calls = []
    aux = model.roi_head.consistent_supervision
    for head in (aux.bbox_head, aux.mask_head):
        head.register_forward_hook(lambda *_: calls.append(1))
    model.eval()
    batch = _batch()
    with torch.no_grad():
        results = model(
            img=[batch["img"]], img_metas=[batch["img_metas"]], return_loss=False, rescale=True
        )
    assert calls == [] and len(results) == 1 and len(results[0][0]) == NUM_CLASSES
    model.train()
    model(**batch)
    assert len(calls) == 2  # one batched forward over all levels per auxiliary head


def test_aux_loss_is_weighted_sum_over_lateral_levels():
    model = _model()
    model.train()
    batch = _batch()
    feats = model.extract_feat(batch["img"])
    head = model.roi_head
    proposals = Instances.batch([Instances(boxes=batch["gt_bboxes"][0] + 2.0)])
    gt = [Instances(boxes=batch["gt_bboxes"][0], labels=batch["gt_labels"][0])]
    gt[0].masks = batch["gt_masks"][0]
    torch.manual_seed(2)
    sampling = head.sample(0, proposals, gt)
    aux = head.consistent_supervision
    losses = aux.loss(feats.laterals, sampling, head.train_cfg[0], gt)
    rois = torch.cat([torch.zeros(len(sampling[0].bboxes), 1), sampling[0].bboxes], dim=1)
    targets = aux.bbox_head.get_targets(sampling, head.train_cfg[0])
    expected = 0.0
    for lateral, stride in zip(feats.laterals, (4, 8, 16, 32)):
        pooled = roi_align(lateral, rois, (7, 7), 1.0 / stride, 0, aligned=True)
        expected = (
            expected + 0.25 * aux.bbox_head.loss(*aux.bbox_head(pooled), *targets)["loss_cls"]
        )
    torch.testing.assert_close(losses["aux.loss_cls"], expected)


def test_consistent_supervision_needs_a_neck_with_laterals():
    model = _model(neck="FPN", rfa=False)
    model.train()
    with pytest.raises(ValueError, match="AugFPN"):
        model(**_batch())


def test_consistent_supervision_without_mask_head():
    cfg = _tiny_cfg()
    cfg.roi_head.consistent_supervision = dict(loss_weight=0.5, with_mask=False)
    model = build_detector(cfg)
    assert model.roi_head.consistent_supervision.mask_head is None
    assert model.roi_head.consistent_supervision.loss_weight == 0.5
    model.train()
    losses = model(**_batch())
    assert "s0.aux.loss_cls" in losses and "s0.aux.loss_mask" not in losses


def test_bad_consistent_supervision_config_raises():
    cfg = _tiny_cfg()
    cfg.roi_head.consistent_supervision = dict(loss_weight=0.25, alpha=1)
    with pytest.raises(KeyError, match="alpha"):
        build_detector(cfg)
    cfg.roi_head.consistent_supervision = dict(loss_weight=-1)
    with pytest.raises(ValueError, match="loss_weight"):
        build_detector(cfg)


def test_seed_config_builds_with_augfpn_neck():
    cfg = detkit.Config.fromfile(str(SEED))
    cfg.model.backbone.init_cfg = None
    model = detkit.build_detector(cfg.model)
    assert type(model.neck).__name__ == "AugFPN"
    rfa_params = sum(p.numel() for p in model.neck.rfa.parameters())
    assert rfa_params == 3 * (2048 * 256 + 256) + (768 * 256 + 256) + (256 * 3 * 9 + 3)
    # the FPN seed model has 77,047,694 parameters (reference section 5.2)
    assert sum(p.numel() for p in model.parameters()) == 77_047_694 + rfa_params


def test_channels_last_training_keeps_the_laterals_for_consistent_supervision():
    cfg = _tiny_cfg()
    cfg["channels_last"] = True
    model = build_detector(cfg)
    model.train()
    torch.manual_seed(1)
    losses = model(**_batch())
    assert "s0.aux.loss_mask" in losses
