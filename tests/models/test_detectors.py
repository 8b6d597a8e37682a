"""Detector calling conventions (mmdet v2), test-time augmentation, autocast and
channels_last on tiny models."""

import copy

import numpy as np
import pytest
import torch

from detkit.models import build_detector
from detkit.ops import fast_kernels
from detkit.structures import BatchGeometry, BitmapMasks, ImageMeta
from detkit.structures.detections import detection_results


def _meta(h=64, w=96, scale=1.0, flip=False, ori=(64, 96)):
    return dict(
        img_shape=(h, w, 3),
        ori_shape=(*ori, 3),
        pad_shape=(h, w, 3),
        scale_factor=np.full(4, scale, dtype=np.float32),
        flip=flip,
        flip_direction="horizontal" if flip else None,
    )


def _gt():
    boxes = torch.tensor([[10.0, 8.0, 50.0, 40.0], [55.0, 20.0, 90.0, 60.0]])
    masks = np.zeros((2, 64, 96), np.uint8)
    masks[0, 8:40, 10:50] = 1
    masks[1, 20:60, 55:90] = 1
    return boxes, torch.tensor([0, 2]), BitmapMasks(masks, 64, 96)


@pytest.mark.parametrize(
    "detector,with_mask", [("CascadeRCNN", True), ("MaskRCNN", True), ("FasterRCNN", False)]
)
def test_train_step_and_simple_test_format(tiny_cfg, detector, with_mask):
    torch.manual_seed(0)
    model = build_detector(tiny_cfg(detector, with_mask=with_mask))
    boxes, labels, masks = _gt()
    data = dict(
        img=torch.randn(1, 3, 64, 96), img_metas=[_meta()], gt_bboxes=[boxes], gt_labels=[labels]
    )
    if with_mask:
        data["gt_masks"] = [masks]
    meta_before = dict(data["img_metas"][0])
    out = model.train_step(data, None)
    assert set(out) == {"loss", "log_vars", "num_samples"} and out["num_samples"] == 1
    expected = {"loss_rpn_cls", "loss_rpn_bbox", "loss"}
    if detector == "CascadeRCNN":
        expected |= {
            f"s{i}.{k}" for i in range(3) for k in ("loss_cls", "acc", "loss_bbox", "loss_mask")
        }
    else:
        expected |= {"loss_cls", "acc", "loss_bbox"} | ({"loss_mask"} if with_mask else set())
    assert set(out["log_vars"]) == expected
    assert data["img_metas"][0] == meta_before  # the model reads the meta dicts, never writes
    out["loss"].backward()
    model.eval()
    with torch.no_grad():
        results = model(
            img=[torch.randn(2, 3, 64, 96)],
            img_metas=[[_meta(), _meta()]],
            return_loss=False,
            rescale=True,
        )
    assert len(results) == 2
    for result in results:
        bbox_results = result[0] if with_mask else result
        assert len(bbox_results) == 3
        assert all(b.dtype == np.float32 and b.shape[1] == 5 for b in bbox_results)
        if with_mask:
            assert [len(s) for s in result[1]] == [len(b) for b in bbox_results]


def test_forward_test_argument_checks(tiny_cfg):
    model = build_detector(tiny_cfg()).eval()
    with pytest.raises(TypeError, match="imgs must be a list"):
        model(img=torch.zeros(1, 3, 64, 96), img_metas=[[_meta()]], return_loss=False)
    with pytest.raises(ValueError, match="augmentations"):
        model(img=[torch.zeros(1, 3, 64, 96)], img_metas=[[_meta()], [_meta()]], return_loss=False)


@pytest.mark.parametrize("detector", ["CascadeRCNN", "MaskRCNN"])
def test_aug_test_multi_scale_and_flip(tiny_cfg, detector):
    """Two scales × flip of one 64×96 image: merged detections on the original canvas."""
    torch.manual_seed(0)
    model = build_detector(tiny_cfg(detector)).eval()
    # make scores high enough for detections to survive
    heads = model.roi_head.bbox_head
    for head in heads if isinstance(heads, torch.nn.ModuleList) else [heads]:
        torch.nn.init.constant_(head.fc_cls.bias, 0.0)
        head.fc_cls.bias.data[0] = 5.0
    base = torch.randn(1, 3, 64, 96)
    imgs, metas = [], []
    for scale in (1.0, 0.5):
        img = torch.nn.functional.interpolate(base, scale_factor=scale) if scale != 1 else base
        h, w = img.shape[-2:]
        for flip in (False, True):
            imgs.append(img.flip(-1) if flip else img)
            metas.append([_meta(h, w, scale, flip)])
    with torch.no_grad():
        results = model(img=imgs, img_metas=metas, return_loss=False, rescale=True)
    assert len(results) == 1
    bbox_results, segm_results = results[0]
    n = sum(len(b) for b in bbox_results)
    assert n > 0
    for c in range(3):
        for mask in segm_results[c]:
            assert mask.shape == (64, 96) and mask.dtype == bool
        if len(bbox_results[c]):
            assert np.all(np.diff(bbox_results[c][:, 4]) <= 0)
    all_boxes = np.concatenate(bbox_results)
    assert all_boxes[:, [0, 2]].max() <= 96 + 1e-3 and all_boxes[:, [1, 3]].max() <= 64 + 1e-3


def test_channels_last_matches_default_and_autocast_bf16_runs(tiny_cfg):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = build_detector(cfg).eval()
    cfg_cl = copy.deepcopy(cfg)
    cfg_cl["channels_last"] = True
    model_cl = build_detector(cfg_cl).eval()
    model_cl.load_state_dict(model.state_dict())
    assert model_cl.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        feats = model.extract_feat(img)
        feats_cl = model_cl.extract_feat(img)
        for a, b in zip(feats, feats_cl):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            results = model_cl.predict(img, [_meta()], rescale=True)
    assert results[0].boxes.dtype == torch.float32 and results[0].masks.dtype == torch.bool
    model.train()
    boxes, labels, masks = _gt()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model.forward_train(img, [_meta()], [boxes], [labels], gt_masks=[masks])
    total = sum(
        v.float().mean() if torch.is_tensor(v) else sum(x.float().mean() for x in v)
        for k, v in losses.items()
        if "loss" in k
    )
    assert torch.isfinite(total)
    total.backward()


def test_compile_option_is_validated(tiny_cfg):
    cfg = tiny_cfg()
    cfg["compile"] = "yes"
    with pytest.raises(TypeError, match="model.compile"):
        build_detector(cfg)


def test_compile_option_wraps_backbone_and_neck(tiny_cfg):
    """``model.compile`` goes through torch.compile (eager backend here: no codegen cost)."""
    torch.manual_seed(0)
    cfg = tiny_cfg()
    plain = build_detector(cfg).eval()
    cfg["compile"] = dict(backend="eager", dynamic=False, options=dict(freezing=True))
    compiled = build_detector(cfg).eval()
    assert compiled.feature_compiler.inductor_options == {"freezing": True}
    assert "options" in cfg["compile"]
    compiled.load_state_dict(plain.state_dict())
    img = torch.randn(1, 3, 64, 96)
    # compiled graphs take PyTorch's own ops; the eager reference too (detkit's measured
    # kernels, e.g. Winograd, would round differently)
    with torch.no_grad(), fast_kernels(False):
        reference = plain.extract_feat(img)
    with torch.no_grad():
        for a, b in zip(reference, compiled.extract_feat(img)):
            torch.testing.assert_close(a, b)
    assert compiled.feature_compiler.compiled is not None
    clone = copy.deepcopy(compiled)
    # recompiled for the copy, not bound to the original
    assert clone.feature_compiler.compiled is None
    with torch.no_grad():
        torch.testing.assert_close(clone.extract_feat(img)[0], reference[0])


@pytest.mark.parametrize("detector", ["CascadeRCNN", "MaskRCNN"])
def test_aug_merge_of_two_identical_views_equals_single_view(tiny_cfg, detector):
    """Given the same proposals, averaging two identical views changes nothing: the RoI
    head's aug path must reproduce its single-view prediction (rescale=True)."""
    torch.manual_seed(0)
    model = build_detector(tiny_cfg(detector)).eval()
    heads = model.roi_head.bbox_head
    for head in heads if isinstance(heads, torch.nn.ModuleList) else [heads]:
        head.fc_cls.bias.data[0] = 5.0
    img = torch.randn(1, 3, 64, 96)
    meta = ImageMeta.from_mmdet(_meta())
    geometry = BatchGeometry.of([meta], rescale=True)
    with torch.no_grad():
        x = model.extract_feat(img)
        proposals = model.rpn_head.predict(x, geometry.img_shape)
        detections = model.roi_head.predict(x, proposals, geometry)
        single = detection_results(detections, [meta], True, model.mask_thr_binary)[0]
        merged = model.roi_head.predict_aug([x, x], proposals, [meta, meta], rescale=True)[0]
    assert len(single) > 0 and len(merged) == len(single)
    torch.testing.assert_close(merged.boxes, single.boxes, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(merged.scores, single.scores)
    assert torch.equal(merged.labels, single.labels) and torch.equal(
        merged.dense_masks(), single.dense_masks()
    )


@pytest.mark.parametrize("detector", ["CascadeRCNN", "MaskRCNN"])
def test_aug_merge_honours_rescale(tiny_cfg, detector):
    """Both RoI heads' ``predict_aug``: without ``rescale`` the merged boxes are those in
    original pixels times the first view's ``scale_factor``; the masks stay on the original
    canvas (mmdet's ``aug_test``)."""
    torch.manual_seed(0)
    model = build_detector(tiny_cfg(detector)).eval()
    heads = model.roi_head.bbox_head
    for head in heads if isinstance(heads, torch.nn.ModuleList) else [heads]:
        head.fc_cls.bias.data[0] = 5.0
    meta = ImageMeta.from_mmdet(_meta(h=64, w=96, scale=2.0, ori=(32, 48)))
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        x = model.extract_feat(img)
        # proposals in original pixels, as predict_aug takes them
        proposals = model.rpn_head.predict(x, BatchGeometry.of([meta], False).img_shape)
        proposals.boxes = proposals.boxes / 2.0
        original = model.roi_head.predict_aug([x], proposals, [meta], rescale=True)[0]
        scaled = model.roi_head.predict_aug([x], proposals, [meta], rescale=False)[0]
    assert len(original) > 0
    torch.testing.assert_close(scaled.boxes, original.boxes * 2.0)
    assert torch.equal(scaled.scores, original.scores) and torch.equal(
        scaled.dense_masks(), original.dense_masks()
    )
    assert original.masks.shape[1:] == (32, 48)


def test_flip_mapping_round_trip():
    from detkit.structures.boxes import bbox_mapping, bbox_mapping_back
    from detkit.structures.boxes import flip_boxes as bbox_flip

    boxes = torch.tensor([[10.0, 5.0, 30.0, 25.0]])
    torch.testing.assert_close(
        bbox_flip(boxes, (40, 100), "horizontal"), torch.tensor([[70.0, 5.0, 90.0, 25.0]])
    )
    torch.testing.assert_close(
        bbox_flip(boxes, (40, 100), "vertical"), torch.tensor([[10.0, 15.0, 30.0, 35.0]])
    )
    mapped = bbox_mapping(boxes, (20, 50), [0.5] * 4, True, "horizontal")
    torch.testing.assert_close(mapped, torch.tensor([[35.0, 2.5, 45.0, 12.5]]))
    torch.testing.assert_close(bbox_mapping_back(mapped, (20, 50), [0.5] * 4, True), boxes)


def test_class_specific_regression_uses_the_label_columns(tiny_cfg):
    model = build_detector(tiny_cfg("MaskRCNN"))
    head = model.roi_head.bbox_head
    rois = torch.tensor([[0.0, 10.0, 10.0, 30.0, 40.0]])
    deltas = torch.zeros(1, 12)
    deltas[0, 8] = 1.0  # class 2: dx = 1 * std 0.1 * width 20 = +2 px
    moved = head.regress_by_class(rois, torch.tensor([2]), deltas, _meta())
    torch.testing.assert_close(moved, torch.tensor([[0.0, 12.0, 10.0, 32.0, 40.0]]))
    unmoved = head.regress_by_class(rois, torch.tensor([1]), deltas, _meta())
    torch.testing.assert_close(unmoved, rois)
    # loss uses the gt-class deltas of positives, divided by the number of sampled RoIs
    labels = torch.tensor([2, 3])  # one positive (class 2), one background (3 = num_classes)
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    weights = torch.tensor([[1.0] * 4, [0.0] * 4])
    preds = torch.zeros(2, 12)
    preds[0, 8] = 1.0  # exact for class 2
    losses = head.loss(torch.zeros(2, 4), preds, labels, torch.ones(2), targets, weights)
    assert losses["loss_bbox"].item() == 0
    preds[0, 8] = 0.0
    class_0 = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2)  # top-1 is class 0 (no ties for topk)
    losses = head.loss(class_0, preds, labels, torch.ones(2), targets, weights)
    eps = torch.finfo(torch.float32).eps
    assert losses["loss_bbox"].item() == pytest.approx(0.5 / (2 + eps))  # smooth-l1(1) / 2 RoIs
    assert losses["acc"].item() == pytest.approx(0.0)  # top-1 class 0 everywhere, labels 2 and 3


def test_legacy_rpn_test_cfg_spellings_give_the_same_proposals(tiny_cfg):
    """mmdet < 2.10 spelled the RPN test cfg nms_thr / nms_post / max_num."""
    torch.manual_seed(0)
    model = build_detector(tiny_cfg()).eval()
    img = torch.randn(1, 3, 64, 96)
    legacy = dict(
        nms_across_levels=False,
        nms_pre=500,
        nms_post=300,
        max_num=300,
        nms_thr=0.7,
        min_bbox_size=0,
    )
    with torch.no_grad():
        x = model.extract_feat(img)
        modern = model.rpn_head.simple_test_rpn(x, [_meta()])[0]
        old = model.rpn_head.get_bboxes(*model.rpn_head(x), [_meta()], cfg=legacy)[0]
    assert torch.equal(modern, old)
    with pytest.raises(KeyError, match="max_per_img"):
        model.rpn_head.get_bboxes(*model.rpn_head(x), [_meta()], cfg=dict(nms_thr=0.7))
