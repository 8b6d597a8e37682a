"""MMDetection v2's own tests of the box coder, the max-IoU assigner and the anchor generator,
ported (2.x ``tests/test_utils/test_coder.py::test_delta_bbox_coder``,
``tests/test_utils/test_assigner.py::test_max_iou_assigner*`` / ``test_random_assign_result``
and ``tests/test_utils/test_anchor.py::test_standard_anchor_generator`` / ``test_strides`` /
``test_sparse_prior`` / ``test_retina_anchor`` / ``test_guided_anchor``, as in v2.28), through
the v2 public call forms (``coder.decode(rois, deltas, max_shape)``,
``assigner.assign(bboxes, gt_bboxes, gt_bboxes_ignore, gt_labels)``,
``build_prior_generator(cfg)``). The expected numbers are mmdet's. detkit raises ``ValueError``
where mmdet asserts."""

import pytest
import torch

from detkit.models.task_modules import (
    AnchorGenerator,
    AssignResult,
    DeltaXYWHBBoxCoder,
    MaxIoUAssigner,
    build_anchor_generator,
    build_assigner,
    build_bbox_coder,
    build_prior_generator,
)

ROIS = torch.tensor(
    [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0]]
)
DELTAS = torch.tensor(
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, -1.0], [0.7, -1.9, -0.5, 0.3]]
)
DECODED = torch.tensor(
    [
        [0.0, 0.0, 1.0, 1.0],
        [0.1409, 0.1409, 2.8591, 2.8591],
        [0.0, 0.3161, 4.1945, 0.6839],
        [5.0, 5.0, 5.0, 5.0],
    ]
)


def test_delta_bbox_coder():
    """v2 ``test_delta_bbox_coder``."""
    coder = build_bbox_coder(dict(type="DeltaXYWHBBoxCoder"))
    out = coder.decode(ROIS, DELTAS, max_shape=(32, 32))
    torch.testing.assert_close(out, DECODED, atol=1e-4, rtol=0)
    torch.testing.assert_close(coder.decode(ROIS, DELTAS, max_shape=torch.tensor((32, 32))), out)
    batch_rois, batch_deltas = ROIS.repeat(2, 1, 1), DELTAS.repeat(2, 1, 1)
    torch.testing.assert_close(coder.decode(batch_rois, batch_deltas, max_shape=(32, 32))[0], out)
    torch.testing.assert_close(
        coder.decode(batch_rois, batch_deltas, max_shape=[(32, 32), (32, 32)])[0], out
    )
    with pytest.raises(ValueError):
        coder.decode(batch_rois, batch_deltas, max_shape=[(32, 32)] * 3)
    empty = torch.zeros((0, 4))
    assert coder.decode(empty, empty, max_shape=(32, 32)).shape == empty.shape
    # add_ctr_clamp: the centre shift of the first box is clamped to 2 px
    clamped = DeltaXYWHBBoxCoder(add_ctr_clamp=True, ctr_clamp=2)
    rois = torch.cat([torch.tensor([[0.0, 0.0, 6.0, 6.0]]), ROIS[1:]])
    deltas = torch.cat([torch.tensor([[1.0, 1.0, 2.0, 2.0]]), DELTAS[1:]])
    expect = torch.cat([torch.tensor([[0.0, 0.0, 27.1672, 27.1672]]), DECODED[1:]])
    torch.testing.assert_close(
        clamped.decode(rois, deltas, max_shape=(32, 32)), expect, atol=1e-4, rtol=0
    )


BBOXES = torch.tensor([[0.0, 0, 10, 10], [10, 10, 20, 20], [5, 5, 15, 15], [32, 32, 38, 42]])
GT_BBOXES = torch.tensor([[0.0, 0, 10, 9], [0, 10, 10, 19]])


def test_max_iou_assigner_cases():
    """v2 ``test_max_iou_assigner``, ``_with_ignore``, ``_with_empty_gt``, ``_with_empty_boxes``,
    ``_with_empty_boxes_and_ignore``, ``_with_empty_boxes_and_gt``."""
    assigner = build_assigner(dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5))
    result = assigner.assign(BBOXES, GT_BBOXES, gt_labels=torch.tensor([2, 3]))
    assert len(result.gt_inds) == 4 and len(result.labels) == 4
    assert result.gt_inds.tolist() == [1, 0, 2, 0]
    # the positional v2 form: assign(bboxes, gt_bboxes, gt_bboxes_ignore, gt_labels)
    assert assigner.assign(BBOXES, GT_BBOXES, None, torch.tensor([2, 3])).labels.tolist() == [
        2,
        -1,
        3,
        -1,
    ]

    ignoring = MaxIoUAssigner(
        pos_iou_thr=0.5, neg_iou_thr=0.5, ignore_iof_thr=0.5, ignore_wrt_candidates=False
    )
    bboxes = BBOXES.clone()
    bboxes[3] = torch.tensor([30.0, 32, 40, 42])
    result = ignoring.assign(bboxes, GT_BBOXES, gt_bboxes_ignore=torch.tensor([[30.0, 30, 40, 40]]))
    assert result.gt_inds.tolist() == [1, 0, 2, -1]

    assert assigner.assign(BBOXES, torch.empty(0, 4)).gt_inds.tolist() == [0, 0, 0, 0]
    for a, ignore in (
        (assigner, None),
        (MaxIoUAssigner(0.5, 0.5, ignore_iof_thr=0.5), torch.tensor([[30.0, 30, 40, 40]])),
    ):
        result = a.assign(
            torch.empty(0, 4), GT_BBOXES, gt_bboxes_ignore=ignore, gt_labels=torch.tensor([2, 3])
        )
        assert len(result.gt_inds) == 0 and tuple(result.labels.shape) == (0,)
        result = a.assign(torch.empty(0, 4), GT_BBOXES, gt_bboxes_ignore=ignore, gt_labels=None)
        assert len(result.gt_inds) == 0 and result.labels is None
    assert len(assigner.assign(torch.empty(0, 4), torch.empty(0, 4)).gt_inds) == 0


def test_random_assign_result():
    """v2 ``test_random_assign_result``: corner cases of ``AssignResult.random``."""
    AssignResult.random()
    for num_gts, num_preds in ((0, 0), (0, 3), (3, 3), (7, 7), (7, 64), (24, 3)):
        result = AssignResult.random(num_gts=num_gts, num_preds=num_preds)
        assert result.num_gts == num_gts and len(result.gt_inds) == num_preds


def test_standard_anchor_generator_and_strides():
    """v2 ``test_standard_anchor_generator`` and ``test_strides``."""
    gen = build_prior_generator(
        dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8])
    )
    assert gen.num_base_priors == gen.num_base_anchors == [3, 3]
    with pytest.warns(DeprecationWarning, match="build_prior_generator"):
        assert (
            build_anchor_generator(
                dict(type="AnchorGenerator", scales=[8], ratios=[1.0], strides=[4])
            ).num_levels
            == 1
        )
    anchors = AnchorGenerator([10], [1.0], [1.0], [10]).grid_anchors([(2, 2)], device="cpu")
    expect = torch.tensor([[-5.0, -5, 5, 5], [5, -5, 15, 5], [-5, 5, 5, 15], [5, 5, 15, 15]])
    assert torch.equal(anchors[0], expect)
    anchors = AnchorGenerator([(10, 20)], [1.0], [1.0], [10]).grid_anchors([(2, 2)], device="cpu")
    expect = torch.tensor([[-5.0, -5, 5, 5], [5, -5, 15, 5], [-5, 15, 5, 25], [5, 15, 15, 25]])
    assert torch.equal(anchors[0], expect)


def test_sparse_priors_equal_grid_rows():
    """v2 ``test_sparse_prior`` (the ``AnchorGenerator`` part)."""
    gen = AnchorGenerator(strides=[16, 32], ratios=[1.0], scales=[1.0], base_sizes=[4, 8])
    idx = torch.tensor([0, 2, 4, 5, 6, 9])
    sizes = [(3, 5), (6, 4)]
    grid = gen.grid_priors(sizes, device="cpu")
    for level, size in enumerate(sizes):
        sparse = gen.sparse_priors(prior_idxs=idx, featmap_size=size, level_idx=level, device="cpu")
        assert torch.equal(sparse, grid[level][idx])
    gen = AnchorGenerator(strides=[16, 32], ratios=[1.0, 2.5], scales=[1.0, 5.0], base_sizes=[4, 8])
    idx = torch.tensor([4, 5, 6, 7, 0, 2, 50, 4, 5, 6, 9])
    sizes = [(13, 5), (16, 4)]
    grid = gen.grid_priors(sizes, device="cpu")
    for level, size in enumerate(sizes):
        assert torch.equal(gen.sparse_priors(idx, size, level, device="cpu"), grid[level][idx])


def _retina_row(s):
    """mmdet's expected base anchors of one RetinaNet level (stride 8 ⇒ s = 1)."""
    half = (
        torch.tensor(
            [
                [22.6274, 11.3137],
                [28.5088, 14.2544],
                [35.9188, 17.9594],
                [16.0, 16.0],
                [20.1587, 20.1587],
                [25.3984, 25.3984],
                [11.3137, 22.6274],
                [14.2544, 28.5088],
                [17.9594, 35.9188],
            ]
        )
        * s
    )
    return torch.cat([-half, half], 1)


def test_retina_and_guided_anchor_base_anchors_and_valid_flags():
    """v2 ``test_retina_anchor`` and ``test_guided_anchor`` (their generator configs, built
    directly: the heads are not part of detkit)."""
    retina = build_prior_generator(
        dict(
            type="AnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128],
        )
    )
    for level, base in enumerate(retina.base_anchors):
        torch.testing.assert_close(base, _retina_row(2**level), atol=1e-4, rtol=1e-5)
    assert retina.num_base_anchors == [9] * 5
    sizes = [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]
    flags = retina.valid_flags(sizes, (640, 640), "cpu")
    assert [int(f.sum()) for f in flags] == [57600, 14400, 3600, 900, 225]
    assert len(retina.grid_anchors(sizes, "cpu")) == 5
    ga_sizes = [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]
    flags = retina.valid_flags(ga_sizes, (800, 1216), "cpu")
    assert [int(f.sum()) for f in flags] == [136800, 34200, 8550, 2223, 630]
    squares = AnchorGenerator(ratios=[1.0], scales=[4], strides=[8, 16, 32, 64, 128])
    for level, base in enumerate(squares.base_anchors):
        r = 16.0 * 2**level
        torch.testing.assert_close(base, torch.tensor([[-r, -r, r, r]]))
    assert squares.num_base_anchors == [1] * 5 and len(squares.grid_anchors(ga_sizes, "cpu")) == 5
