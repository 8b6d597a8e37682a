"""Losses added for MMDetection v2.28's zoo configs: hand-worked cases and equivalence with
v2.28's formulas, re-stated here independently (per element, in plain Python where small).

Pinned v2.28 sources (``mmdet/models/losses/``): ``focal_loss.py`` (``py_sigmoid_focal_loss``,
``py_focal_loss_with_prob``, ``FocalLoss.forward``'s one-hot of labels with background
``num_classes``), ``iou_loss.py`` (``iou_loss``, ``bounded_iou_loss``, ``giou_loss``,
``diou_loss``, ``ciou_loss`` and the modules' zero-weight / ``weight.mean(-1)`` shortcuts),
``balanced_l1_loss.py``, ``seesaw_loss.py`` (``seesaw_ce_loss``, ``SeesawLoss``), ``utils.py``
(``weight_reduce_loss``) and ``accuracy.py``; the assertions of v2.28's
``tests/test_models/test_loss.py`` (``test_iou_type_loss_zeros_weight``,
``test_loss_with_reduction_override``, ``test_regression_losses``,
``test_classification_losses``) are ported at the end (detkit raises ``ValueError`` where
mmdet asserts).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from detkit.models.losses import (
    BalancedL1Loss,
    BoundedIoULoss,
    CIoULoss,
    CrossEntropyLoss,
    DIoULoss,
    FocalLoss,
    GIoULoss,
    IoULoss,
    L1Loss,
    SeesawLoss,
    SmoothL1Loss,
    accuracy,
)
from detkit.registry import MODELS, build

IOU_LOSSES = (IoULoss, BoundedIoULoss, GIoULoss, DIoULoss, CIoULoss)
REGRESSION_LOSSES = (*IOU_LOSSES, L1Loss, SmoothL1Loss, BalancedL1Loss)


def _boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 20
    wh = torch.rand(n, 2, generator=g) * 10 + 1
    return torch.cat([xy, xy + wh], 1)


# ------------------------------------------------------------------------------- focal loss
def _focal_element(logit, is_pos, gamma, alpha):
    p = 1 / (1 + math.exp(-logit))
    if is_pos:
        return -alpha * (1 - p) ** gamma * math.log(p)
    return -(1 - alpha) * p**gamma * math.log(1 - p)


def test_focal_loss_per_element_formula_background_and_weights():
    torch.manual_seed(0)
    pred = torch.randn(6, 3, dtype=torch.float64)
    labels = torch.tensor([0, 2, 3, 1, 3, 0])  # 3 = background: no positive column
    ref = torch.tensor(
        [
            [_focal_element(float(pred[i, c]), int(labels[i]) == c, 2.0, 0.25) for c in range(3)]
            for i in range(6)
        ],
        dtype=torch.float64,
    )
    loss = FocalLoss(loss_weight=2.0)
    torch.testing.assert_close(loss(pred, labels, reduction_override="none"), 2 * ref)
    torch.testing.assert_close(loss(pred, labels), 2 * ref.mean())
    weight = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(
        loss(pred, labels, weight, avg_factor=4.0), 2 * (ref * weight[:, None]).sum() / 4.0
    )
    # a flat per-element weight [N * C] is viewed as [N, C]
    flat = torch.rand(18, dtype=torch.float64)
    torch.testing.assert_close(
        loss(pred, labels, flat, reduction_override="sum"), 2 * (ref * flat.view(6, 3)).sum()
    )
    with pytest.raises(ValueError, match="fits neither"):
        loss(pred, labels, torch.ones(5, dtype=torch.float64))
    # activated=True takes probabilities
    prob = pred.sigmoid()
    torch.testing.assert_close(
        FocalLoss(activated=True)(prob, labels, reduction_override="none"), ref
    )
    with pytest.raises(ValueError, match="sigmoid"):
        FocalLoss(use_sigmoid=False)


# -------------------------------------------------------------------------- IoU family
def test_iou_family_hand_worked_pair():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    target = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    iou = 1 / 7  # overlap 1, union 4 + 4 - 1
    assert IoULoss(mode="linear")(pred, target).item() == pytest.approx(1 - iou, rel=1e-5)
    assert IoULoss(mode="square")(pred, target).item() == pytest.approx(1 - iou**2, rel=1e-5)
    assert IoULoss()(pred, target).item() == pytest.approx(-math.log(iou), rel=1e-5)
    with pytest.warns(DeprecationWarning, match="linear"):
        assert IoULoss(linear=True).mode == "linear"
    giou = iou - (9 - 7) / 9  # enclosing box 3 x 3
    assert GIoULoss()(pred, target).item() == pytest.approx(1 - giou, rel=1e-5)
    diou = iou - 2 / 18  # centres (1, 1) and (2, 2); enclosing diagonal² 3² + 3²
    assert DIoULoss()(pred, target).item() == pytest.approx(1 - diou, rel=1e-5)
    assert CIoULoss()(pred, target).item() == pytest.approx(1 - diou, rel=1e-5)  # same aspect
    # bounded IoU: centre offsets 1, sizes equal -> dx = dy = 1 - (2 - 2) / (2 + 2 + eps)
    bounded = BoundedIoULoss(eps=0.0)(pred, target, reduction_override="none")
    expect = torch.tensor([[1 - 0.2 / 2, 1 - 0.2 / 2, 0.0, 0.0]])  # smooth-L1, beta 0.2
    torch.testing.assert_close(bounded, expect)


def test_ciou_aspect_term_and_clamp():
    pred = torch.tensor([[0.0, 0.0, 4.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 4.0, 4.0], [10.0, 10.0, 11.0, 11.0]])
    eps = 1e-6
    loss = CIoULoss(eps=eps)(pred, target, reduction_override="none")
    iou = 12 / (12 + 16 - 12 + eps)
    rho2 = (0.5**2) / (16 + 16 + eps)  # centres (2, 1.5) and (2, 2)
    v = 4 / math.pi**2 * (math.atan(4 / (4 + eps)) - math.atan(4 / (3 + eps))) ** 2
    alpha = v / (1 - iou + v)  # iou > 0.5
    assert loss[0].item() == pytest.approx(1 - (iou - (rho2 + alpha * v)), rel=1e-5)
    # disjoint: iou 0, alpha 0, rho² / c² = 200 / 242; CIoU clamped to [-1, 1]
    assert loss[1].item() == pytest.approx(1 + 200 / 242, rel=1e-5)


def test_iou_losses_gradients_and_mmdet_functional_equivalence():
    pred, target = _boxes(8, 1).requires_grad_(), _boxes(8, 2)
    for cls in IOU_LOSSES:
        loss = cls()(pred, target)
        (grad,) = torch.autograd.grad(loss, pred)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # GIoU from its definition (enclosing area minus union over enclosing area)
    p, t = pred.detach(), target
    lt, rb = torch.max(p[:, :2], t[:, :2]), torch.min(p[:, 2:], t[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = (p[:, 2:] - p[:, :2]).prod(1) + (t[:, 2:] - t[:, :2]).prod(1) - inter
    encl = (torch.max(p[:, 2:], t[:, 2:]) - torch.min(p[:, :2], t[:, :2])).prod(1)
    torch.testing.assert_close(
        GIoULoss()(p, t, reduction_override="none"), 1 - (inter / union - (encl - union) / encl)
    )


def test_iou_loss_weight_shortcuts():
    pred, target = _boxes(5, 3).requires_grad_(), _boxes(5, 4)
    for cls in IOU_LOSSES:
        zero = cls()(pred, target, torch.zeros(5))
        assert zero.item() == 0 and zero.requires_grad
    # IoULoss keeps the element loss for reduction='none' (mmdet checks the reduction first)
    assert IoULoss()(pred, target, torch.zeros(5), reduction_override="none").shape == (5,)
    # a [N, 4] weight is averaged over the coordinates (BoundedIoULoss: one weight per term)
    w4 = torch.rand(5, 4)
    for cls in (IoULoss, GIoULoss, DIoULoss, CIoULoss):
        torch.testing.assert_close(cls()(pred, target, w4), cls()(pred, target, w4.mean(-1)))
    with pytest.raises(ValueError, match="weight"):
        GIoULoss()(pred, target, torch.rand(5, 2))
    bounded = BoundedIoULoss()
    torch.testing.assert_close(
        bounded(pred, target, w4, reduction_override="sum"),
        (bounded(pred, target, reduction_override="none") * w4).sum(),
    )


# ----------------------------------------------------------------------------- balanced L1
def test_balanced_l1_values_and_gradient_continuity():
    alpha, gamma, beta = 0.5, 1.5, 1.0
    b = math.exp(gamma / alpha) - 1
    x = torch.tensor([0.0, 0.3, 0.999, 1.0, 2.5], dtype=torch.float64, requires_grad=True)
    loss = BalancedL1Loss()(x, torch.zeros_like(x), reduction_override="none")
    inner = [
        alpha / b * (b * v + 1) * math.log(b * v / beta + 1) - alpha * v for v in (0, 0.3, 0.999)
    ]
    outer = [gamma * v + gamma / b - alpha * beta for v in (1.0, 2.5)]
    torch.testing.assert_close(loss, torch.tensor(inner + outer, dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss.sum(), x)
    # d/dx = alpha ln(b x / beta + 1) inside, gamma outside; equal at beta by b's choice
    expect = [alpha * math.log(b * v / beta + 1) for v in (0, 0.3, 0.999)] + [gamma, gamma]
    torch.testing.assert_close(grad, torch.tensor(expect, dtype=torch.float64), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="one shape"):
        BalancedL1Loss()(torch.zeros(2, 4), torch.zeros(2, 3))


# ------------------------------------------------------------------------------- seesaw
def _seesaw_reference(logits, labels, counts, p, q, eps):
    """Per-sample seesaw CE, written from the paper's definition with explicit loops."""
    out = []
    for z, c in zip(logits.tolist(), labels.tolist()):
        probs = torch.softmax(torch.tensor(z, dtype=torch.float64), 0).tolist()
        shifted = []
        for j, zj in enumerate(z):
            if j == c:
                shifted.append(zj)
                continue
            factor = 1.0
            n_j, n_c = max(counts[j], 1.0), max(counts[c], 1.0)
            if n_j < n_c:
                factor *= (n_j / n_c) ** p
            ratio = probs[j] / max(probs[c], eps)
            if ratio > 1:
                factor *= ratio**q
            shifted.append(zj + math.log(factor))
        out.append(-shifted[c] + math.log(sum(math.exp(s) for s in shifted)))
    return torch.tensor(out, dtype=torch.float64)


def test_seesaw_loss_equals_definition_and_counts():
    torch.manual_seed(0)
    num_classes = 4
    loss = SeesawLoss(num_classes=num_classes, p=0.8, q=2.0)
    assert "cum_samples" in loss.state_dict() and loss.cum_samples.shape == (5,)
    loss.cum_samples[:] = torch.tensor([50.0, 3.0, 0.0, 10.0, 0.0])
    logits = torch.randn(7, num_classes + 2, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 4, 3, 0, 4, 2])
    weights = torch.tensor([1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 1.0], dtype=torch.float64)
    out = loss(logits, labels, weights, avg_factor=6.0)
    counts = [52.0, 4.0, 1.0, 11.0]  # updated with this batch before the loss
    assert loss.cum_samples.tolist() == counts + [2.0]
    pos = labels < num_classes
    ref = _seesaw_reference(logits[pos, :num_classes], labels[pos], counts, 0.8, 2.0, 1e-2)
    torch.testing.assert_close(out["loss_cls_classes"], (ref * weights[pos]).sum() / 6.0)
    obj_ce = F.cross_entropy(logits[:, -2:], (labels == num_classes).long(), reduction="none")
    torch.testing.assert_close(out["loss_cls_objectness"], (obj_ce * weights).sum() / 6.0)
    summed = SeesawLoss(num_classes=num_classes, return_dict=False)(logits, labels)
    assert summed.dim() == 0
    # p = q = 0 is plain softmax cross-entropy on the classes
    plain = SeesawLoss(num_classes=num_classes, p=0.0, q=0.0)(logits, labels)
    torch.testing.assert_close(
        plain["loss_cls_classes"], F.cross_entropy(logits[pos, :num_classes], labels[pos])
    )


def test_seesaw_head_interface():
    loss = SeesawLoss(num_classes=3)
    assert loss.custom_cls_channels and loss.custom_activation and loss.custom_accuracy
    assert loss.get_cls_channels(3) == 5
    with pytest.raises(ValueError, match="num_classes=4"):
        loss.get_cls_channels(4)
    logits = torch.randn(4, 5)
    scores = loss.get_activation(logits)
    assert scores.shape == (4, 4)
    torch.testing.assert_close(scores.sum(-1), torch.ones(4))
    obj = torch.softmax(logits[:, 3:], -1)
    torch.testing.assert_close(scores[:, :3], torch.softmax(logits[:, :3], -1) * obj[:, :1])
    labels = torch.tensor([0, 3, 2, 1])
    acc = loss.get_accuracy(logits, labels)
    assert set(acc) == {"acc_objectness", "acc_classes"}
    torch.testing.assert_close(acc["acc_objectness"], accuracy(logits[:, 3:], (labels == 3).long()))
    with pytest.raises(ValueError, match="num_classes \\+ 2"):
        loss(torch.randn(4, 4), labels)
    no_pos = loss(logits, torch.full((4,), 3))
    assert no_pos["loss_cls_classes"].item() == 0


def test_accuracy_topk_and_thresh():
    pred = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    target = torch.tensor([2, 0, 0])
    assert accuracy(pred, target).item() == pytest.approx(100 / 3)
    top1, top2 = accuracy(pred, target, topk=(1, 2))
    assert top1.item() == pytest.approx(100 / 3) and top2.item() == pytest.approx(200 / 3)
    assert accuracy(pred, target, thresh=0.6).item() == 0
    assert accuracy(pred[:0], target[:0]).item() == 0
    with pytest.raises(ValueError, match="exceeds"):
        accuracy(pred, target, topk=4)


# ------------------------------------------------------------------- configs and registry
def test_zoo_loss_configs_build():
    cfgs = [
        dict(type="SeesawLoss", p=0.8, q=2.0, num_classes=1203, loss_weight=1.0),
        dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        dict(type="GIoULoss", loss_weight=10.0),
        dict(type="DIoULoss", loss_weight=10.0),
        dict(type="CIoULoss", loss_weight=12.0),
        dict(type="IoULoss", mode="linear", loss_weight=1.0),
        dict(type="BoundedIoULoss", beta=0.2, loss_weight=1.0),
        dict(type="BalancedL1Loss", alpha=0.5, gamma=1.5, beta=1.0, loss_weight=1.0),
    ]
    for cfg in cfgs:
        loss = build(cfg, MODELS)
        assert type(loss).__name__ == cfg["type"] and loss.loss_weight == cfg["loss_weight"]


# ------------------------------- ported: v2.28 tests/test_models/test_loss.py assertions
@pytest.mark.parametrize("loss_class", IOU_LOSSES)
def test_iou_type_loss_zeros_weight(loss_class):
    assert loss_class()(torch.rand(10, 4), torch.rand(10, 4), torch.zeros(10)) == 0.0


@pytest.mark.parametrize(
    "loss_class", (*REGRESSION_LOSSES, CrossEntropyLoss, FocalLoss, SeesawLoss)
)
def test_loss_with_reduction_override(loss_class):
    with pytest.raises(ValueError, match="reduction"):
        loss_class()(torch.rand(10, 4), torch.rand(10, 4), None, reduction_override=True)


@pytest.mark.parametrize("loss_class", REGRESSION_LOSSES)
@pytest.mark.parametrize("input_shape", [(10, 4), (0, 4)])
def test_regression_losses(loss_class, input_shape):
    pred, target, weight = torch.rand(input_shape), torch.rand(input_shape), torch.rand(input_shape)
    for kwargs in ({}, {"weight": weight}, {"reduction_override": "mean"}, {"avg_factor": 10}):
        assert isinstance(loss_class()(pred, target, **kwargs), torch.Tensor)
    with pytest.raises(ValueError, match="avg_factor"):
        loss_class()(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in (None, "none", "mean"):
        out = loss_class()(pred, target, avg_factor=10, reduction_override=reduction_override)
        assert isinstance(out, torch.Tensor)


@pytest.mark.parametrize("loss_class", (FocalLoss, CrossEntropyLoss))
@pytest.mark.parametrize("input_shape", [(10, 5), (0, 5)])
def test_classification_losses(loss_class, input_shape):
    pred = torch.rand(input_shape)
    target = torch.randint(0, 5, (input_shape[0],))
    for kwargs in ({}, {"reduction_override": "mean"}, {"avg_factor": 10}):
        assert isinstance(loss_class()(pred, target, **kwargs), torch.Tensor)
    with pytest.raises(ValueError, match="avg_factor"):
        loss_class()(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in (None, "none", "mean"):
        out = loss_class()(pred, target, avg_factor=10, reduction_override=reduction_override)
        assert isinstance(out, torch.Tensor)
