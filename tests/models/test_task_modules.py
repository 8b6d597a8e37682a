"""Anchors, box coder, IoU, assigner, sampler and losses against hand-computed values."""

import math

import pytest
import torch

import detkit.models  # noqa: F401
from detkit.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss
from detkit.models.task_modules import (
    AnchorGenerator,
    DeltaXYWHBBoxCoder,
    MaxIoUAssigner,
    RandomSampler,
    bbox_overlaps,
)
from detkit.registry import PRIOR_GENERATORS, build


def test_base_anchors_match_reference_values():
    gen = build(
        dict(
            type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]
        ),
        PRIOR_GENERATORS,
    )
    expected = torch.tensor(
        [
            [-22.627417, -11.313708, 22.627417, 11.313708],
            [-16.0, -16.0, 16.0, 16.0],
            [-11.313708, -22.627417, 11.313708, 22.627417],
        ]
    )
    torch.testing.assert_close(gen.base_anchors[0], expected)
    assert gen.num_base_anchors == [3] * 5
    sizes = [
        math.sqrt(((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[1].item()) for a in gen.base_anchors
    ]
    assert sizes == pytest.approx([32, 64, 128, 256, 512])


def test_grid_anchors_order_and_centres():
    gen = AnchorGenerator(strides=[4], ratios=[1.0], scales=[2])
    anchors = gen.grid_priors([(2, 3)])[0]  # H=2, W=3
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    # row-major over (i, j): centre (j*stride, i*stride)
    assert centres.tolist() == [[0, 0], [4, 0], [8, 0], [0, 4], [4, 4], [8, 4]]
    assert anchors[0].tolist() == [-4, -4, 4, 4]
    gen3 = AnchorGenerator(strides=[8], ratios=[0.5, 1.0, 2.0], scales=[1])
    grid = gen3.grid_priors([(1, 2)])[0]
    # flat index (i*W + j)*A + a
    torch.testing.assert_close(grid[3:], gen3.base_anchors[0] + torch.tensor([8.0, 0, 8, 0]))


def test_valid_flags_follow_pad_shape():
    gen = AnchorGenerator(strides=[8], ratios=[1.0], scales=[1])
    flags = gen.valid_flags([(4, 4)], pad_shape=(17, 9, 3))[0].view(4, 4)
    # ceil(17/8)=3 rows, ceil(9/8)=2 cols
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[:3, :2] = True
    assert torch.equal(flags, expected)


def test_anchor_generator_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        AnchorGenerator(strides=[4], ratios=[1.0])
    with pytest.raises(ValueError, match="center_offset"):
        AnchorGenerator(strides=[4], ratios=[1.0], scales=[1], center_offset=2)


def test_coder_encode_hand_values_and_round_trip():
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    proposals = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    gt = torch.tensor([[5.0, 0.0, 15.0, 40.0]])
    deltas = coder.encode(proposals, gt)
    # dx = 5/10, dy = 10/20, dw = log(1), dh = log(2); divided by stds
    torch.testing.assert_close(deltas, torch.tensor([[5.0, 5.0, 0.0, math.log(2) / 0.2]]))
    torch.testing.assert_close(coder.decode(proposals, deltas), gt)
    boxes = torch.tensor([[3.0, 4.0, 30.0, 50.0], [10.0, 10.0, 11.0, 12.0]])
    targets = torch.tensor([[1.0, 2.0, 40.0, 45.0], [9.0, 9.0, 13.0, 14.0]])
    torch.testing.assert_close(coder.decode(boxes, coder.encode(boxes, targets)), targets)


def test_coder_clamps_ratio_and_clips_border():
    coder = DeltaXYWHBBoxCoder()
    roi = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    huge = torch.tensor([[0.0, 0.0, 100.0, -100.0]])
    out = coder.decode(roi, huge)
    max_ratio = abs(math.log(16 / 1000))
    w, h = 10 * math.exp(max_ratio), 10 * math.exp(-max_ratio)
    torch.testing.assert_close(
        out, torch.tensor([[15 - w / 2, 15 - h / 2, 15 + w / 2, 15 + h / 2]])
    )
    clipped = coder.decode(roi, huge, max_shape=(30, 40, 3))
    assert clipped[0, 0] == 0 and clipped[0, 2] == 40
    # class-specific deltas [N, 4k] decode k boxes
    assert coder.decode(roi, torch.zeros(1, 8)).shape == (1, 8)


def test_iou_and_iof():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0, 0.9]])  # score column ignored
    iou = bbox_overlaps(a, b)
    torch.testing.assert_close(iou, torch.tensor([[50 / 150], [0.0]]))
    torch.testing.assert_close(bbox_overlaps(a[:1], b, mode="iof"), torch.tensor([[0.5]]))
    assert bbox_overlaps(a, b[:0]).shape == (2, 0)


def test_assigner_thresholds_low_quality_and_labels():
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 9.0],  # IoU .9 with gt0 -> pos 1
            [0.0, 0.0, 10.0, 5.0],  # IoU .5 -> ignored (between thresholds)
            [50.0, 50.0, 60.0, 60.0],  # IoU 0 -> negative
            [20.0, 20.0, 30.0, 24.0],
        ]
    )  # IoU .4 with gt1 -> low-quality pos 2
    labels = torch.tensor([3, 5])
    assigner = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3)
    result = assigner.assign(boxes, gts, gt_labels=labels)
    assert result.gt_inds.tolist() == [1, -1, 0, 2]
    assert result.labels.tolist() == [3, -1, -1, 5]
    no_lq = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3, match_low_quality=False)
    assert no_lq.assign(boxes, gts).gt_inds.tolist() == [1, -1, 0, -1]
    # neg range as a pair: only IoU in [0.45, 0.6) is negative
    ranged = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=(0.45, 0.6), match_low_quality=False)
    assert ranged.assign(boxes, gts).gt_inds.tolist() == [1, 0, -1, -1]


def test_assigner_low_quality_later_gt_wins_and_ties():
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 4.0], [0.0, 6.0, 10.0, 10.0]])  # IoU .4 each
    result = MaxIoUAssigner(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3).assign(boxes, gts)
    assert result.gt_inds.tolist() == [2, 2]  # both tie at gt max: all assigned, gt 2 last


def test_assigner_ignore_boxes_and_no_gt():
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    boxes = torch.tensor([[40.0, 40.0, 50.0, 50.0], [60.0, 60.0, 70.0, 70.0]])
    ignore = torch.tensor([[38.0, 38.0, 52.0, 52.0]])
    assigner = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, match_low_quality=False
    )
    assert assigner.assign(boxes, gts, ignore).gt_inds.tolist() == [-1, 0]
    off = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=-1, match_low_quality=False
    )
    assert off.assign(boxes, gts, ignore).gt_inds.tolist() == [0, 0]
    empty = off.assign(boxes, gts[:0], gt_labels=torch.zeros(0, dtype=torch.long))
    assert empty.gt_inds.tolist() == [0, 0] and empty.labels.tolist() == [-1, -1]


def test_sampler_counts_and_gt_proposals():
    torch.manual_seed(0)
    gts = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    pos_boxes = torch.tensor([[0.0, 0.0, 10.0, 9.5]]).repeat(10, 1)
    neg_boxes = torch.tensor([[50.0, 50.0, 60.0, 60.0]]).repeat(30, 1)
    boxes = torch.cat([pos_boxes, neg_boxes])
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5)
    sampler = RandomSampler(num=16, pos_fraction=0.25, add_gt_as_proposals=True)
    labels = torch.tensor([2])
    res = sampler.sample(assigner.assign(boxes, gts, gt_labels=labels), boxes, gts, labels)
    assert res.pos_inds.numel() == 4 and res.neg_inds.numel() == 12  # int(16*.25), rest neg
    assert res.bboxes.shape == (16, 4)
    assert res.pos_gt_labels.tolist() == [2] * 4 and res.pos_assigned_gt_inds.tolist() == [0] * 4
    assert res.pos_is_gt.sum() <= 1
    capped = RandomSampler(num=16, pos_fraction=0.25, neg_pos_ub=2, add_gt_as_proposals=False)
    res = capped.sample(assigner.assign(boxes, gts), boxes, gts)
    assert res.pos_inds.numel() == 4 and res.neg_inds.numel() == 8
    # everything taken when fewer candidates than asked; gt prepended with flag 1
    few = RandomSampler(num=1000, pos_fraction=0.5, add_gt_as_proposals=True)
    res = few.sample(assigner.assign(boxes, gts, gt_labels=labels), boxes, gts, labels)
    assert res.pos_inds.tolist() == list(range(11)) and res.pos_is_gt.tolist() == [1] + [0] * 10
    assert res.neg_inds.numel() == 30


def test_losses_weight_avg_factor_semantics():
    eps = torch.finfo(torch.float32).eps
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.5]])
    target = torch.tensor([[1.5, 2.0], [0.0, 3.0]])
    weight = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # smooth l1 beta=1: 0.5*.5^2 = .125 ; |2.5|-.5 = 2.0
    out = SmoothL1Loss(beta=1.0)(pred, target, weight, avg_factor=4)
    torch.testing.assert_close(out, torch.tensor(2.125 / (4 + eps)))
    torch.testing.assert_close(L1Loss(loss_weight=2.0)(pred, target), torch.tensor(2 * 3.0 / 4))
    assert SmoothL1Loss()(pred[:0], target[:0]).item() == 0
    with pytest.raises(ValueError, match="avg_factor"):
        L1Loss(reduction="sum")(pred, target, avg_factor=2)
    # sigmoid CE with integer labels: label == num_classes (1) is background
    logits = torch.tensor([[0.0], [0.0]])
    labels = torch.tensor([0, 1])
    bce = CrossEntropyLoss(use_sigmoid=True)(logits, labels, torch.tensor([1.0, 1.0]), avg_factor=2)
    torch.testing.assert_close(bce, torch.tensor(math.log(2) * 2 / (2 + eps)))
    # softmax CE
    ce = CrossEntropyLoss()(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
    torch.testing.assert_close(ce, torch.tensor(math.log(2)))
    # mask CE: channel of the label, mean over pixels, shape [1]
    mask_logits = torch.zeros(1, 3, 2, 2)
    mask_logits[0, 1] = 100.0
    loss = CrossEntropyLoss(use_mask=True)(mask_logits, torch.ones(1, 2, 2), torch.tensor([1]))
    assert loss.shape == (1,) and loss.item() < 1e-6
