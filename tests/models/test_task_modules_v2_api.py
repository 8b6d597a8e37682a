"""MMDetection v2's calls on the task modules: batched box coding, the anchor generator's v2
names, ``AssignResult.random`` / ``add_gt_`` / ``info`` (issue 19, part 3)."""

import numpy as np
import pytest
import torch

from detkit.models.task_modules import AnchorGenerator, AssignResult, DeltaXYWHBBoxCoder


def _rois(b, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(b, n, 2, generator=g) * 40
    return torch.cat([xy, xy + 1 + torch.rand(b, n, 2, generator=g) * 30], dim=-1)


def test_batched_decode_equals_per_image_decode_with_per_image_max_shape():
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    rois = _rois(2, 6)
    deltas = torch.randn(2, 6, 12, generator=torch.Generator().manual_seed(1))
    shapes = [(30, 45, 3), (60, 20, 3)]
    out = coder.decode(rois, deltas, max_shape=shapes)
    assert out.shape == (2, 6, 12)
    for i, shape in enumerate(shapes):
        assert torch.allclose(out[i], coder.decode(rois[i], deltas[i], max_shape=shape), atol=1e-5)
    assert out[1, :, 0::2].max() <= 20 and out[1, :, 1::2].max() <= 60
    assert torch.allclose(
        coder.decode(rois, deltas, max_shape=torch.tensor([[30, 45], [60, 20]])), out
    )
    # one (H, W) for the whole batch
    one = coder.decode(rois, deltas, max_shape=(30, 45))
    assert torch.allclose(one[1], coder.decode(rois[1], deltas[1], max_shape=(30, 45)), atol=1e-5)
    unclipped = coder.decode(rois, deltas)
    assert torch.allclose(unclipped[0], coder.decode(rois[0], deltas[0]), atol=1e-5)


def test_batched_encode_and_shape_errors():
    coder = DeltaXYWHBBoxCoder(target_means=(0.1, 0.0, 0.0, 0.0))
    rois, gts = _rois(2, 5), _rois(2, 5, seed=3)
    enc = coder.encode(rois, gts)
    assert enc.shape == (2, 5, 4)
    assert torch.allclose(enc[1], coder.encode(rois[1], gts[1]))
    assert torch.allclose(coder.decode(rois, enc), gts, atol=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        coder.encode(rois, gts[:, :3])
    with pytest.raises(ValueError, match=r"\[B, N, 4\]"):
        coder.decode(rois[:, :3], torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="2 images"):
        coder.decode(rois, enc, max_shape=[(10, 10), (10, 10), (10, 10)])


def test_anchor_generator_v2_names():
    gen = AnchorGenerator(strides=[4, (8, 16)], ratios=[0.5, 1.0, 2.0], scales=[8])
    sizes = [(5, 7), (3, 4)]
    assert gen.num_base_priors == gen.num_base_anchors == [3, 3]
    priors, anchors = gen.grid_priors(sizes), gen.grid_anchors(sizes)
    assert all(torch.equal(p, a) for p, a in zip(priors, anchors))
    single = gen.single_level_grid_anchors(gen.base_anchors[1], sizes[1], stride=(8, 16))
    assert torch.equal(single, priors[1])
    assert torch.equal(single[3], gen.base_anchors[1][0] + torch.tensor([8.0, 0, 8, 0]))
    idx = torch.tensor([0, 5, 13, 35])
    assert torch.equal(gen.sparse_priors(idx, sizes[1], 1), priors[1][idx])
    assert gen.sparse_priors(idx, sizes[1], 1, dtype=torch.float64).dtype == torch.float64
    flags = gen.valid_flags(sizes, pad_shape=(12, 16, 3))
    # level 1: ceil(12/16)=1 valid row, ceil(16/8)=2 valid columns, 3 anchors each
    assert flags[1].sum().item() == 1 * 2 * 3 and flags[0].sum().item() == 3 * 4 * 3
    assert torch.equal(AnchorGenerator.single_level_valid_flags((3, 4), (1, 2), 3), flags[1])
    with pytest.raises(ValueError, match="exceeds"):
        AnchorGenerator.single_level_valid_flags((3, 4), (4, 2), 3)
    with pytest.raises(ValueError, match="levels"):
        gen.grid_anchors(sizes[:1])


def _mmdet_random_draws(seed, num_gts, num_preds, p_ignore=0.3, p_assigned=0.7):
    """The NumPy draws of v2's ``AssignResult.random`` replayed step by step."""
    rng = np.random.RandomState(seed)
    overlaps = rng.rand(num_preds)
    is_assigned = rng.rand(num_preds) < p_assigned
    n_assigned = min(num_preds, min(num_gts, is_assigned.sum()))
    idxs = np.where(is_assigned)[0]
    rng.shuffle(idxs)
    is_assigned[:] = False
    is_assigned[np.sort(idxs[:n_assigned])] = True
    is_ignore = (rng.rand(num_preds) < p_ignore) & is_assigned
    rng.shuffle(np.arange(num_gts))
    gt_inds = rng.randint(1, num_gts + 1, size=num_preds)
    gt_inds[is_ignore] = -1
    gt_inds[~is_assigned] = 0
    overlaps[~is_assigned] = 0
    use_label = 0.5 < rng.rand()
    labels = rng.randint(0, 3, size=num_preds) if use_label else None
    if labels is not None:
        labels[~is_assigned] = 0
    return gt_inds, overlaps, labels


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_assign_result_random_replays_v2_draws(seed):
    res = AssignResult.random(rng=seed, num_gts=4, num_preds=12)
    gt_inds, overlaps, labels = _mmdet_random_draws(seed, 4, 12)
    assert res.num_gts == 4 and res.num_preds == 12
    assert res.gt_inds.dtype == torch.int64 and res.gt_inds.tolist() == gt_inds.tolist()
    assert np.allclose(res.max_overlaps.numpy(), overlaps)
    assert (res.labels is None) == (labels is None)
    if labels is not None:
        assert res.labels.tolist() == labels.tolist()
    assert int((res.gt_inds != 0).sum()) <= 4


def test_assign_result_random_edge_cases_and_info():
    empty = AssignResult.random(rng=0, num_gts=0, num_preds=5, p_use_label=True)
    assert empty.gt_inds.tolist() == [0] * 5 and empty.labels.tolist() == [0] * 5
    assert AssignResult.random(rng=np.random.RandomState(3)).num_gts in range(8)
    with pytest.raises(TypeError, match="num_gt"):
        AssignResult.random(num_gt=3)
    res = AssignResult(
        2, torch.tensor([0, 2, -1]), torch.tensor([0.1, 0.8, 0.4]), torch.tensor([-1, 1, -1])
    )
    res.set_extra_property("priors", "p")
    assert res.get_extra_property("priors") == "p" and res.get_extra_property("other") is None
    with pytest.raises(KeyError, match="basic field"):
        res.set_extra_property("labels", None)
    info = res.info
    assert sorted(info) == ["gt_inds", "labels", "max_overlaps", "num_gts", "num_preds", "priors"]
    assert info["num_preds"] == 3
    res.add_gt_(torch.tensor([4, 1]))
    assert res.gt_inds.tolist() == [1, 2, 0, 2, -1] and res.labels.tolist() == [4, 1, -1, 1, -1]
    assert res.max_overlaps[:2].tolist() == [1.0, 1.0] and res.num_preds == 5
    assert str(res) == (
        "<AssignResult(num_gts=2, gt_inds.shape=(5,), max_overlaps.shape=(5,), labels.shape=(5,))>"
    )
