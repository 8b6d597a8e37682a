"""RoI level mapping, mask targets, mask pasting, class-wise NMS, result format, and
empty-ground-truth training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

import detkit.models  # noqa: F401
from detkit.models import build_detector, parse_losses
from detkit.models.roi_heads import SingleRoIExtractor
from detkit.models.roi_heads.mask_head import FCNMaskHead, mask_targets
from detkit.models.task_modules import AssignResult, RandomSampler, multiclass_nms, top_batched_nms
from detkit.structures import BitmapMasks, PolygonMasks
from detkit.structures.mask_paste import paste_masks_in_image
from detkit.structures.results import DetectionResult


def test_roi_level_mapping_finest_scale_56():
    ext = SingleRoIExtractor(
        dict(type="RoIAlign", output_size=7, sampling_ratio=0), 4, [4, 8, 16, 32]
    )
    sides = [50.0, 111.9, 112.0, 223.0, 224.0, 447.0, 448.0, 2000.0]
    rois = torch.tensor([[0, 0, 0, s, s] for s in sides])
    assert ext.map_roi_levels(rois, 4).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_roi_extractor_pools_each_roi_from_its_level():
    ext = SingleRoIExtractor(
        dict(type="RoIAlign", output_size=2, sampling_ratio=0), 1, [4, 8, 16, 32]
    )
    feats = [torch.full((1, 1, 64 // 2**i, 64 // 2**i), float(i)) for i in range(4)]
    rois = torch.tensor([[0, 0, 0, 40, 40], [0, 0, 0, 150, 150], [0, 0, 0, 250, 250]])
    out = ext(feats, rois)
    assert out.shape == (3, 1, 2, 2)
    assert out[:, 0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 2.0], rel=1e-6)


@pytest.mark.parametrize("levels", [1, 4])
def test_roi_extractor_gives_contiguous_features(levels):
    """NCHW-contiguous as the heads' NNPACK convolutions read them, single-level or not."""
    ext = SingleRoIExtractor(
        dict(type="RoIAlign", output_size=7, sampling_ratio=0), 3, [4, 8, 16, 32][:levels]
    )
    feats = [torch.randn(1, 3, 64 // 2**i, 64 // 2**i) for i in range(levels)]
    rois = torch.tensor([[0, 0, 0, 40, 40], [0, 0, 0, 150, 150], [0, 10, 20, 250, 200]])
    assert ext(feats, rois).is_contiguous()


def test_roi_extractor_keeps_levels_without_rois_in_the_graph_when_training():
    """Every level gets a (zero) gradient, as DistributedDataParallel needs; no extra term
    without autograd."""
    ext = SingleRoIExtractor(
        dict(type="RoIAlign", output_size=2, sampling_ratio=0), 2, [4, 8, 16, 32]
    )
    feats = [torch.randn(1, 2, 64 // 2**i, 64 // 2**i, requires_grad=True) for i in range(4)]
    rois = torch.tensor([[0, 0, 0, 40, 40], [0, 8, 8, 30, 30]])  # both on level 0
    out = ext(feats, rois)
    out.sum().backward()
    assert feats[0].grad.abs().sum() > 0
    assert all(f.grad is not None and not f.grad.any() for f in feats[1:])
    with torch.no_grad():
        assert torch.equal(ext(feats, rois), out.detach())


def test_roi_extractor_gradient_reaches_each_level_from_its_own_rois():
    """Each level's gradient is exactly that of pooling its own RoIs (the rows of the
    output's gradient they were written to), RoIs of several levels interleaved."""
    torch.manual_seed(0)
    ext = SingleRoIExtractor(dict(type="RoIAlign", output_size=3, sampling_ratio=0), 2, [4, 8, 16])
    feats = [torch.randn(1, 2, 64 // 2**i, 64 // 2**i, requires_grad=True) for i in range(3)]
    rois = torch.tensor(
        [
            [0, 0, 0, 150, 150],
            [0, 0, 0, 40, 40],
            [0, 5, 5, 250, 240],
            [0, 3, 4, 30, 50],
            [0, 10, 0, 160, 170],
        ]
    )
    grad = torch.randn(5, 2, 3, 3)
    ext(feats, rois).backward(grad)
    levels = ext.map_roi_levels(rois, 3)
    assert levels.tolist() == [1, 0, 2, 0, 1]
    for i, feat in enumerate(feats):
        ref = feat.detach().clone().requires_grad_(True)
        inds = torch.nonzero(levels == i).squeeze(1)
        ext.roi_layers[i](ref, rois[inds]).backward(grad[inds])
        assert torch.equal(feat.grad, ref.grad)


def _sampling_result(pos_boxes, gt_inds):
    n = pos_boxes.shape[0]
    assign = AssignResult(1, torch.tensor(gt_inds), torch.ones(n), torch.zeros(n, dtype=torch.long))
    sampler = RandomSampler(num=n, pos_fraction=1.0, add_gt_as_proposals=False)
    return sampler.sample(assign, pos_boxes, torch.tensor([[0.0, 0.0, 8.0, 8.0]]))


def test_mask_targets_hand_computed():
    canvas = np.zeros((1, 16, 16), dtype=np.uint8)
    canvas[0, :8, :8] = 1
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [0.0, 0.0, 16.0, 8.0], [-5.0, -5.0, 8.0, 8.0]])
    res = _sampling_result(boxes, [1, 1, 1])
    targets = mask_targets([res], [BitmapMasks(canvas, 16, 16)], 28)
    assert targets.shape == (3, 28, 28) and targets.dtype == torch.float32
    # samples sit at bin centres; only the last one (7.357, 7.357) falls below 0.5 after
    # bilinear weighting with the empty pixel 8: 0.643 * 0.643 = 0.41
    expected = torch.ones(28, 28)
    expected[27, 27] = 0
    assert torch.equal(targets[0], expected)
    # box twice as wide as the mask: left 14 columns are 1, the rest 0
    assert torch.all(targets[1][:, :14] == 1) and torch.all(targets[1][:, 14:] == 0)
    # box clipped to the canvas first: same as the exact box
    assert torch.equal(targets[2], targets[0])
    # [N, H, W] tensors are accepted too
    same = mask_targets([res], [torch.from_numpy(canvas)], 28)
    assert torch.equal(same, targets)
    # polygons are shifted into the box and rasterised: the square fills the exact box
    square = PolygonMasks([[np.array([0.0, 0.0, 8.0, 0.0, 8.0, 8.0, 0.0, 8.0])]], 16, 16)
    poly_targets = mask_targets([res], [square], 28)
    assert torch.all(poly_targets[0] == 1) and poly_targets[1][:, 14:].sum() == 0


def _mmdet_paste_reference(masks, boxes, img_h, img_w, skip_empty):
    """MMDetection v2's ``_do_paste_mask`` on one mask at a time (its CPU path)."""
    out = torch.zeros(len(masks), img_h, img_w)
    for i in range(len(masks)):
        box = boxes[i : i + 1]
        if skip_empty:
            x0_int, y0_int = torch.clamp(box.min(dim=0).values.floor()[:2] - 1, min=0).to(
                torch.int32
            )
            x1_int = torch.clamp(box[:, 2].max().ceil() + 1, max=img_w).to(torch.int32)
            y1_int = torch.clamp(box[:, 3].max().ceil() + 1, max=img_h).to(torch.int32)
        else:
            x0_int, y0_int, x1_int, y1_int = 0, 0, img_w, img_h
        x0, y0, x1, y1 = torch.split(box, 1, dim=1)
        img_y = torch.arange(y0_int, y1_int).to(torch.float32) + 0.5
        img_x = torch.arange(x0_int, x1_int).to(torch.float32) + 0.5
        img_y = (img_y - y0) / (y1 - y0) * 2 - 1
        img_x = (img_x - x0) / (x1 - x0) * 2 - 1
        img_x[torch.isinf(img_x)] = 0
        img_y[torch.isinf(img_y)] = 0
        gx = img_x[:, None, :].expand(1, img_y.size(1), img_x.size(1))
        gy = img_y[:, :, None].expand(1, img_y.size(1), img_x.size(1))
        sampled = F.grid_sample(masks[i : i + 1], torch.stack([gx, gy], dim=3), align_corners=False)
        out[i, int(y0_int) : int(y1_int), int(x0_int) : int(x1_int)] = sampled[0, 0]
    return out


@pytest.mark.parametrize("skip_empty", [True, False])
def test_vectorised_paste_equals_mmdet_per_instance(skip_empty):
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(12, 1, 28, 28, generator=gen)
    xy = torch.rand(12, 2, generator=gen) * 60 - 5
    wh = torch.rand(12, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + wh], dim=1)
    boxes[3] = torch.tensor([10.0, 10.0, 10.0, 20.0])  # zero width
    boxes[4] = torch.tensor([50.0, 40.0, 90.0, 90.0])  # partly outside the canvas
    ref = _mmdet_paste_reference(masks, boxes, 48, 64, skip_empty)
    ours = paste_masks_in_image(masks, boxes, 48, 64, 0.5, skip_empty)
    assert ours.dtype == torch.bool and ours.shape == (12, 48, 64)
    assert torch.equal(ours, ref >= 0.5)
    soft = paste_masks_in_image(masks, boxes, 48, 64, -1, skip_empty)
    assert torch.equal(soft, (ref * 255).to(torch.uint8))
    outside = paste_masks_in_image(
        masks[:1], torch.tensor([[70.0, 70.0, 90.0, 90.0]]), 48, 64, 0.5, skip_empty
    )
    assert not outside.any()


def test_paste_of_wide_tall_and_small_boxes_equals_mmdet_per_instance():
    """Windows of very different shapes (pasted in separate chunks) give mmdet's masks."""
    gen = torch.Generator().manual_seed(1)
    masks = torch.rand(6, 1, 28, 28, generator=gen)
    boxes = torch.tensor(
        [
            [0.0, 2.0, 63.5, 6.0],
            [2.0, 0.0, 6.5, 47.0],  # wide, tall
            [20.0, 20.0, 24.0, 25.0],
            [30.2, 10.1, 35.7, 14.9],
            [0.0, 0.0, 64.0, 48.0],
            [40.0, 30.0, 41.0, 31.0],
        ]
    )
    ref = _mmdet_paste_reference(masks, boxes, 48, 64, True)
    assert torch.equal(paste_masks_in_image(masks, boxes, 48, 64, 0.5, True), ref >= 0.5)
    soft = paste_masks_in_image(masks, boxes, 48, 64, -1, True)
    assert torch.equal(soft, (ref * 255).to(torch.uint8))


def test_multiclass_nms_hand_case():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.05, 0.7, 0.25]])
    dets, labels = multiclass_nms(boxes, scores, 0.05, dict(type="nms", iou_threshold=0.5), -1)
    # (box0, c0) .9 ; (box1, c0) suppressed ; (box2, c1) .7 ; (box1, c1) .1 ; score .05 dropped
    assert labels.tolist() == [0, 1, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.1]))
    dets, labels = multiclass_nms(boxes, scores, 0.05, dict(type="nms", iou_threshold=0.5), 2)
    assert len(dets) == 2
    dets, labels = multiclass_nms(boxes, scores, 0.95, dict(type="nms", iou_threshold=0.5), -1)
    assert dets.shape == (0, 5) and labels.shape == (0,)


@pytest.mark.parametrize("max_num", [1, 7, 100, 3000])
@pytest.mark.parametrize("num_groups", [1, 3, 80])
def test_top_batched_nms_equals_full_batched_nms(max_num, num_groups):
    # dense clusters: most boxes are suppressed, so the candidate set must grow to find max_num
    gen = torch.Generator().manual_seed(max_num * 100 + num_groups)
    centres = torch.rand(40, 2, generator=gen) * 400
    pick = torch.randint(0, 40, (5000,), generator=gen)
    xy = centres[pick] + torch.randn(5000, 2, generator=gen) * 4
    wh = 20 + torch.rand(5000, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(5000, generator=gen)
    idxs = torch.randint(0, num_groups, (5000,), generator=gen)
    full = batched_nms(boxes, scores, idxs, 0.5)[:max_num]
    assert torch.equal(top_batched_nms(boxes, scores, idxs, 0.5, max_num), full)
    assert torch.equal(
        top_batched_nms(boxes, scores, idxs, 0.5, -1), batched_nms(boxes, scores, idxs, 0.5)
    )


def test_mask_head_class_logits_equal_full_logits_channel():
    head = FCNMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=5).eval()
    torch.nn.init.normal_(head.conv_logits.bias)
    x = torch.randn(6, 8, 14, 14)
    labels = torch.tensor([4, 0, 2, 2, 1, 3])
    full = head(x)
    picked = head(x, labels)
    assert picked.shape == (6, 1, 28, 28)
    torch.testing.assert_close(picked[:, 0], full[torch.arange(6), labels], rtol=1e-5, atol=1e-5)
    assert head(x[:0], labels[:0]).shape == (0, 1, 28, 28)
    targets = (torch.rand(6, 28, 28) > 0.5).float()
    torch.testing.assert_close(
        head.loss(picked, targets, labels)["loss_mask"],
        head.loss(full, targets, labels)["loss_mask"],
    )


def test_detection_result_to_mmdet_format():
    masks = torch.zeros(3, 4, 5, dtype=torch.bool)
    masks[1, 0, 0] = True
    result = DetectionResult(
        torch.arange(12.0).view(3, 4), torch.tensor([0.9, 0.8, 0.7]), torch.tensor([2, 0, 2]), masks
    )
    bbox_results, segm_results = result.to_mmdet(3)
    assert [b.shape for b in bbox_results] == [(1, 5), (0, 5), (2, 5)]
    assert all(b.dtype == np.float32 for b in bbox_results)
    assert bbox_results[2][:, 4].tolist() == pytest.approx([0.9, 0.7])
    assert [len(s) for s in segm_results] == [1, 0, 2] and segm_results[0][0][0, 0]
    assert isinstance(DetectionResult(result.boxes, result.scores, result.labels).to_mmdet(3), list)
    with pytest.raises(ValueError, match="scores"):
        DetectionResult(torch.zeros(2, 4), torch.zeros(3), torch.zeros(2, dtype=torch.long))


def _metas(h, w, pad_h, pad_w):
    return [
        dict(
            img_shape=(h, w, 3),
            ori_shape=(h, w, 3),
            pad_shape=(pad_h, pad_w, 3),
            scale_factor=np.ones(4, dtype=np.float32),
            flip=False,
        )
    ]


@pytest.mark.parametrize("detector", ["CascadeRCNN", "MaskRCNN"])
def test_empty_ground_truth_gives_zero_box_and_mask_losses(tiny_cfg, detector):
    torch.manual_seed(0)
    model = build_detector(tiny_cfg(detector)).train()
    img = torch.randn(1, 3, 64, 96)
    losses = model.forward_train(
        img,
        _metas(64, 96, 64, 96),
        [torch.zeros(0, 4)],
        [torch.zeros(0, dtype=torch.long)],
        gt_masks=[BitmapMasks(np.zeros((0, 64, 96), np.uint8), 64, 96)],
    )
    assert sum(v.item() for v in losses["loss_rpn_bbox"]) == 0
    box_keys = [k for k in losses if k.endswith("loss_bbox") and "rpn" not in k]
    mask_keys = [k for k in losses if k.endswith("loss_mask")]
    assert box_keys and mask_keys
    for key in box_keys + mask_keys:
        assert losses[key].item() == 0, key
    cls_key = "s0.loss_cls" if detector == "CascadeRCNN" else "loss_cls"
    assert losses[cls_key].item() > 0 and sum(v.item() for v in losses["loss_rpn_cls"]) > 0
    total, log_vars = parse_losses(losses)
    total.backward()
    assert log_vars["loss"] == pytest.approx(total.item())


def test_draw_result_draws_only_kept_instances():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from detkit.viz import draw_result

    masks = torch.zeros(2, 20, 30, dtype=torch.bool)
    masks[0, 2:8, 3:9] = True
    result = DetectionResult(
        torch.tensor([[3.0, 2.0, 9.0, 8.0], [10.0, 10.0, 20.0, 18.0]]),
        torch.tensor([0.9, 0.1]),
        torch.tensor([1, 0]),
        masks,
    )
    _, ax = plt.subplots()
    draw_result(ax, None, result, class_names=["a", "b"], score_thr=0.5)
    shown = ax.images[0].get_array()
    assert shown.shape[:2] == (20, 30)  # the masks' canvas
    assert shown[5, 5].any() and not shown[14, 15].any()  # the kept mask, not the dropped box
    plt.close("all")


def test_parameter_table_rows(tiny_cfg):
    from detkit.models.summary import format_parameter_table, parameter_table

    model = build_detector(tiny_cfg())
    rows = parameter_table(model, max_depth=1)
    assert [r["name"] for r in rows] == ["backbone", "neck", "rpn_head", "roi_head", "total"]
    assert rows[-1]["params"] == sum(r["params"] for r in rows[:-1])
    assert "total" in format_parameter_table(rows).splitlines()[-1]
