"""Libra R-CNN's samplers (``InstanceBalancedPosSampler``, ``IoUBalancedNegSampler``,
``CombinedSampler``) on hand-worked assignments, against MMDetection v2.28's rules:

- ``mmdet/core/bbox/samplers/base_sampler.py`` ``BaseSampler.sample``: ``num_expected_pos =
  int(num * pos_fraction)``, positives from ``pos_sampler._sample_pos``, negatives (``num``
  minus the positives drawn) from ``neg_sampler._sample_neg``, both ``unique()``-d.
- ``instance_balanced_pos_sampler.py`` ``_sample_pos``: ``num_per_gt = int(round(num_expected /
  float(num_gts)) + 1)`` per gt, top-up / cut-down to ``num_expected``.
- ``iou_balanced_neg_sampler.py`` ``_sample_neg`` (the floor / IoU-sampling split by
  ``floor_thr``, ``num_expected_iou_sampling = int(num_expected * (1 - floor_fraction))``) and
  ``sample_via_interval`` (``iou_interval = (max_iou - floor_thr) / num_bins``, ``max_iou`` over
  all candidates, ``per_num_expected = int(num_expected / num_bins)``, bins ``[start, end)``).
- ``combined_sampler.py``: the combined sampler's kwargs are the sub-samplers' defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import detkit
import detkit.models  # noqa: F401
from detkit.models.task_modules import (
    AssignResult,
    CombinedSampler,
    InstanceBalancedPosSampler,
    IoUBalancedNegSampler,
    MaxIoUAssigner,
    RandomSampler,
    build_sampler,
)

LIBRA_RCNN_SAMPLER = dict(
    type="CombinedSampler",
    num=512,
    pos_fraction=0.25,
    add_gt_as_proposals=True,
    pos_sampler=dict(type="InstanceBalancedPosSampler"),
    neg_sampler=dict(type="IoUBalancedNegSampler", floor_thr=-1, floor_fraction=0, num_bins=3),
)


def _assign(gt_inds: list[int], ious: list[float]) -> AssignResult:
    gt = torch.tensor(gt_inds)
    return AssignResult(
        num_gts=int(gt.max().clamp(min=0)),
        gt_inds=gt,
        max_overlaps=torch.tensor(ious),
        labels=torch.where(gt > 0, 0, -1),
    )


# ---------------------------------------------------------------- InstanceBalancedPosSampler
def test_instance_balanced_takes_at_most_num_per_gt_from_each_gt() -> None:
    """gts 1, 2, 3 with 10, 2, 1 positives, 6 asked: num_per_gt = int(round(6 / 3) + 1) = 3, so
    3 + 2 + 1 = 6 exactly: gt 1 cannot take more than 3 (uniform sampling would take ~4.6)."""
    sampler = InstanceBalancedPosSampler(num=12, pos_fraction=0.5)
    result = _assign([1] * 10 + [2] * 2 + [3] + [0] * 5, [0.9] * 13 + [0.1] * 5)
    for seed in range(10):
        torch.manual_seed(seed)
        inds = sampler._sample_pos(result, 6)
        per_gt = torch.bincount(result.gt_inds[inds], minlength=4).tolist()
        assert per_gt == [0, 3, 2, 1]


def test_instance_balanced_tops_up_from_untaken_positives() -> None:
    """gt 1 with 10 positives, gt 2 with 1, 8 asked: 5 + 1 per gt (num_per_gt = 5), then 2 more
    from gt 1's other 5: 8 distinct indices (see the class docstring for mmdet's set bug)."""
    sampler = InstanceBalancedPosSampler(num=16, pos_fraction=0.5)
    result = _assign([1] * 10 + [2] + [0] * 3, [0.8] * 11 + [0.0] * 3)
    torch.manual_seed(0)
    inds = sampler._sample_pos(result, 8)
    assert inds.numel() == 8 and inds.unique().numel() == 8
    assert torch.bincount(result.gt_inds[inds], minlength=3).tolist() == [0, 7, 1]


def test_instance_balanced_rounds_half_to_even_then_cuts_down() -> None:
    """Two gts with 10 positives each, 5 asked: round(2.5) = 2 (Python), num_per_gt = 3, 6
    taken and cut to 5, so no gt ever has more than 3 (round-half-up would allow 4)."""
    sampler = InstanceBalancedPosSampler(num=10, pos_fraction=0.5)
    result = _assign([1] * 10 + [2] * 10, [0.7] * 20)
    for seed in range(20):
        torch.manual_seed(seed)
        inds = sampler._sample_pos(result, 5)
        counts = torch.bincount(result.gt_inds[inds], minlength=3).tolist()
        assert inds.unique().numel() == 5 and sorted(counts[1:]) == [2, 3]


def test_instance_balanced_returns_all_when_few() -> None:
    sampler = InstanceBalancedPosSampler(num=10, pos_fraction=0.5)
    result = _assign([0, 2, 0, 1], [0.0, 0.9, 0.2, 0.6])
    assert sampler._sample_pos(result, 5).tolist() == [1, 3]
    assert sampler._sample_pos(_assign([0, 0], [0.1, 0.2]), 5).numel() == 0


# ---------------------------------------------------------------- IoUBalancedNegSampler
# candidate 0 is a positive (IoU 0.9 = max_iou); negatives: 1..6 IoU 0, 7..10 IoU 0.1,
# 11 IoU 0.4, 12 IoU 0.65
NEG_GT_INDS = [1] + [0] * 12
NEG_IOUS = [0.9] + [0.0] * 6 + [0.1] * 4 + [0.4, 0.65]


def test_iou_balanced_takes_one_per_bin() -> None:
    """floor_thr=-1 (runs as 0), 3 bins over [0, 0.9): [0, .3), [.3, .6), [.6, .9); 3 asked,
    1 per bin: 11 and 12 always, one of 7..10; the six zero-IoU negatives are the floor and
    are not needed."""
    sampler = IoUBalancedNegSampler(num=8, pos_fraction=0.5, floor_thr=-1, num_bins=3)
    result = _assign(NEG_GT_INDS, NEG_IOUS)
    for seed in range(10):
        torch.manual_seed(seed)
        inds = set(sampler._sample_neg(result, 3).tolist())
        assert {11, 12} < inds and len(inds & {7, 8, 9, 10}) == 1
    assert sampler.floor_thr == -1  # mmdet sets it to 0 on its first call; detkit does not


def test_iou_balanced_takes_all_above_the_floor_then_fills_from_the_floor() -> None:
    """8 asked, 6 negatives above IoU 0 (not more than 8): all six, then 2 of the floor."""
    sampler = IoUBalancedNegSampler(num=16, pos_fraction=0.5)
    torch.manual_seed(0)
    inds = sampler._sample_neg(_assign(NEG_GT_INDS, NEG_IOUS), 8).tolist()
    assert len(inds) == 8 and set(range(7, 13)) < set(inds)
    assert len(set(inds) & set(range(1, 7))) == 2


def test_iou_balanced_floor_thr_and_fraction() -> None:
    """floor_thr=0.2, floor_fraction=0.5, 4 asked: int(4 * 0.5) = 2 from IoU >= 0.2 (11, 12:
    both), 2 from the floor [0, 0.2) (1..10)."""
    sampler = IoUBalancedNegSampler(
        num=8, pos_fraction=0.5, floor_thr=0.2, floor_fraction=0.5, num_bins=2
    )
    for seed in range(5):
        torch.manual_seed(seed)
        inds = set(sampler._sample_neg(_assign(NEG_GT_INDS, NEG_IOUS), 4).tolist())
        assert {11, 12} < inds and len(inds & set(range(1, 11))) == 2


def test_iou_balanced_bins_from_floor_thr_to_max_iou() -> None:
    """floor_thr=0.2, 2 bins over [0.2, 1.0) (max_iou 1.0 from the positive):
    [0.2, 0.6) and [0.6, 1.0); 4 asked, 2 per bin; bin 2 holds only IoU 0.65, so the top-up
    (1 more) comes from the unused negatives above the floor."""
    gt_inds = [1] + [0] * 10
    ious = [1.0, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.65, 0.1, 0.0, 0.05]
    sampler = IoUBalancedNegSampler(num=8, pos_fraction=0.5, floor_thr=0.2, num_bins=2)
    for seed in range(10):
        torch.manual_seed(seed)
        inds = set(sampler._sample_neg(_assign(gt_inds, ious), 4).tolist())
        assert 7 in inds and inds <= set(range(1, 8))


def test_iou_balanced_fills_each_saturated_bin_exactly() -> None:
    """Random IoUs in [0, 0.5) for 600 negatives, a gt at IoU 1.0: 3 bins of width 1/3; 90
    asked: 30 per bin when a bin has more than 30. Bin 2 [2/3, 1) is empty, so its 30 are
    drawn from the rest above the floor: bins 0 and 1 hold at least 30 each."""
    g = torch.Generator().manual_seed(1)
    ious = torch.rand(600, generator=g) * 0.5
    result = AssignResult(1, torch.tensor([1] + [0] * 600), torch.cat([torch.ones(1), ious]))
    sampler = IoUBalancedNegSampler(num=180, pos_fraction=0.5)
    torch.manual_seed(0)
    inds = sampler._sample_neg(result, 90)
    picked = result.max_overlaps[inds]
    assert inds.unique().numel() == 90 and (result.gt_inds[inds] == 0).all()
    assert (picked < 1 / 3).sum() >= 30 and (picked >= 1 / 3).sum() >= 30
    # three populated bins up to max_iou 0.5: exactly int(90 / 3) = 30 each
    result.max_overlaps[0] = 0.5
    torch.manual_seed(0)
    picked = result.max_overlaps[sampler._sample_neg(result, 90)]
    counts = torch.histc(picked, bins=3, min=0.0, max=0.5).tolist()
    assert counts == [30.0, 30.0, 30.0]


def test_iou_balanced_with_one_bin_and_few_negatives() -> None:
    result = _assign(NEG_GT_INDS, NEG_IOUS)
    one_bin = IoUBalancedNegSampler(num=8, pos_fraction=0.5, num_bins=1)
    torch.manual_seed(0)
    assert set(one_bin._sample_neg(result, 6).tolist()) == set(range(7, 13))
    assert one_bin._sample_neg(result, 50).tolist() == list(range(1, 13))


def test_iou_balanced_minus_one_runs_as_zero() -> None:
    result = _assign(NEG_GT_INDS, NEG_IOUS)
    draws = []
    for floor_thr in (-1, 0):
        torch.manual_seed(3)
        sampler = IoUBalancedNegSampler(num=8, pos_fraction=0.5, floor_thr=floor_thr)
        draws.append(sampler._sample_neg(result, 5).tolist())
    assert draws[0] == draws[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(floor_thr=-0.5), "floor_thr=-0.5"),
        (dict(floor_fraction=1.5), "floor_fraction=1.5"),
        (dict(num_bins=0), "num_bins=0"),
    ],
)
def test_iou_balanced_refuses_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IoUBalancedNegSampler(num=8, pos_fraction=0.5, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- CombinedSampler
def test_libra_rcnn_sampler_builds_with_the_combined_defaults() -> None:
    sampler = build_sampler(LIBRA_RCNN_SAMPLER)
    assert isinstance(sampler, CombinedSampler)
    pos, neg = sampler.pos_sampler, sampler.neg_sampler
    assert isinstance(pos, InstanceBalancedPosSampler) and isinstance(neg, IoUBalancedNegSampler)
    for sub in (sampler, pos, neg):
        assert (sub.num, sub.pos_fraction, sub.add_gt_as_proposals) == (512, 0.25, True)
    assert (neg.floor_thr, neg.floor_fraction, neg.num_bins) == (-1, 0, 3)


def test_combined_sampler_samples_real_assignments() -> None:
    """Two gts, 60 near-gt boxes and 400 background boxes: 32 asked with pos_fraction 0.25 ->
    8 positives: at most num_per_gt = 5 per gt (51 and 11 candidates, gts added), 10 cut to
    8, so 3 to 5 each; 24 IoU-balanced negatives."""
    g = torch.Generator().manual_seed(0)
    gts = torch.tensor([[10.0, 10.0, 60.0, 60.0], [100.0, 20.0, 180.0, 90.0]])
    labels = torch.tensor([3, 5])
    jitter = (torch.rand(60, 4, generator=g) - 0.5) * 8
    near = torch.cat([gts[0].repeat(50, 1), gts[1].repeat(10, 1)]) + jitter
    xy = torch.rand(400, 2, generator=g) * 200
    far = torch.cat([xy, xy + 10 + torch.rand(400, 2, generator=g) * 60], dim=1)
    boxes = torch.cat([near, far])
    cfg = dict(LIBRA_RCNN_SAMPLER, num=32)
    sampler = build_sampler(cfg)
    assign = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5)
    torch.manual_seed(0)
    res = sampler.sample(assign.assign(boxes, gts, gt_labels=labels), boxes, gts, labels)
    assert res.pos_inds.numel() == 8 and res.neg_inds.numel() == 24
    per_gt = torch.bincount(res.pos_assigned_gt_inds, minlength=2).tolist()
    assert min(per_gt) >= 3 and max(per_gt) <= 5
    assert res.bboxes.shape == (32, 4) and set(res.pos_gt_labels.tolist()) == {3, 5}


def test_combined_sampler_names_a_bad_sub_sampler() -> None:
    with pytest.raises(TypeError, match="neg_sampler"):
        CombinedSampler(
            pos_sampler=dict(type="InstanceBalancedPosSampler"),
            neg_sampler=MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5),
            num=8,
            pos_fraction=0.5,
        )


def test_random_sampler_draws_through_its_own_hooks() -> None:
    sampler = RandomSampler(num=4, pos_fraction=0.5)
    assert sampler.pos_sampler is sampler and sampler.neg_sampler is sampler


def test_libra_zoo_config_carries_the_libra_sampler() -> None:
    """``configs/zoo/mask_rcnn_r50_fpn_libra_cpu_cityscapes.py`` replaces the base's
    RandomSampler (``_delete_``) by the Libra fragment; the zoo test trains it one step."""
    root = Path(__file__).resolve().parents[2]
    cfg = detkit.Config.fromfile(
        str(root / "configs" / "zoo" / "mask_rcnn_r50_fpn_libra_cpu_cityscapes.py")
    )
    rcnn_sampler = cfg.model.train_cfg.rcnn.sampler.to_dict()
    assert rcnn_sampler == LIBRA_RCNN_SAMPLER
    assert isinstance(build_sampler(rcnn_sampler), CombinedSampler)
    assert cfg.model.roi_head.bbox_head.loss_bbox.type == "BalancedL1Loss"


SAMPLER_CFGS = [
    dict(type="InstanceBalancedPosSampler", num=10, pos_fraction=0.5),
    dict(type="IoUBalancedNegSampler", num=10, pos_fraction=0.5, floor_thr=0.1),
    dict(LIBRA_RCNN_SAMPLER, num=10, pos_fraction=0.5),
]
BOXES = torch.tensor([[0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [32, 32, 38, 42.0]])
GTS = torch.tensor([[0, 0, 10, 9], [0, 10, 10, 19.0]])


@pytest.mark.parametrize("cfg", SAMPLER_CFGS, ids=lambda c: str(c["type"]))
@pytest.mark.parametrize("case", ["ignored", "empty_gt", "empty_pred"])
def test_mmdet_sampler_cases(cfg: dict[str, object], case: str) -> None:
    """MMDetection's ``tests/test_sampler.py`` cases (``test_random_sampler``,
    ``..._empty_gt``, ``..._empty_pred``: the four boxes, two gts, an ignored region) run
    through each new sampler: the sampled boxes match the indices, positives are gts or
    assigned boxes, negatives are unassigned, and the counts are the hand-counted ones."""
    assigner = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, ignore_wrt_candidates=False
    )
    boxes, gts, labels = BOXES, GTS, torch.tensor([1, 2])
    ignore = torch.tensor([[30, 30, 40, 40.0]]) if case == "ignored" else None
    if case == "empty_gt":
        gts, labels = gts[:0], labels[:0]
    if case == "empty_pred":
        boxes = boxes[:0]
    assign = assigner.assign(boxes, gts, gt_bboxes_ignore=ignore, gt_labels=labels)
    torch.manual_seed(0)
    res = build_sampler(cfg).sample(assign, boxes, gts, labels)
    assert len(res.pos_bboxes) == len(res.pos_inds) and len(res.neg_bboxes) == len(res.neg_inds)
    assert (assign.gt_inds[res.pos_inds] > 0).all() and (assign.gt_inds[res.neg_inds] == 0).all()
    # positives: the 2 gts, box 0 (IoU 0.9) and box 2 (gt 2's best match, 0.15 >= min_pos_iou
    # 0); box 3 is not ignored (it covers 48% of the ignored region, IoF < 0.5)
    expected_pos = {"ignored": 4, "empty_gt": 0, "empty_pred": 2}[case]
    expected_neg = {"ignored": 2, "empty_gt": 4, "empty_pred": 0}[case]
    assert (res.pos_inds.numel(), res.neg_inds.numel()) == (expected_pos, expected_neg)
