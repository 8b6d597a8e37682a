"""soft-NMS (``nms=dict(type='soft_nms', ...)``) against a direct, scalar transcription of
mmcv's CPU operator (mmcv 1.7 ``mmcv/ops/csrc/pytorch/cpu/nms.cpp::softnms_cpu``: select the
first maximum, swap it forward, decay every later score by ``1 - iou`` (linear, iou >= thr),
``exp(-iou² / sigma)`` (gaussian) or 0 (naive), and swap the last box into the slot of one
that falls below ``min_score``) and mmcv's ``batched_nms`` (``mmcv/ops/nms.py``: class offsets
``idx * (max + 1)``, decayed scores returned, per-group runs from ``split_thr`` boxes), and
through the RPN and RoI-head test configs that reach it (mmdet v2.28
``RPNHead._bbox_post_process`` and ``multiclass_nms``)."""

import math

import numpy as np
import pytest
import torch

from detkit.models import build_detector
from detkit.models.task_modules import batched_soft_nms, multiclass_nms, soft_nms

METHODS = {"naive": 0, "linear": 1, "gaussian": 2}


def mmcv_softnms_reference(boxes, scores, iou_threshold, sigma, min_score, method, offset=0):
    """The C++ loop of ``softnms_cpu``, line for line, on float32 scalars."""
    f = np.float32
    np.seterr(invalid="ignore")  # zero-area pairs: IoU 0/0 = NaN, as in C++
    x1, y1, x2, y2 = ([f(v) for v in boxes[:, k]] for k in range(4))
    sc = [f(v) for v in scores]
    areas = [(x2[k] - x1[k] + f(offset)) * (y2[k] - y1[k] + f(offset)) for k in range(len(sc))]
    inds = list(range(len(sc)))
    arrays = (x1, y1, x2, y2, sc, areas, inds)
    dets = []
    n, i = len(sc), 0
    while i < n:
        max_pos = i
        for pos in range(i + 1, n):
            if sc[max_pos] < sc[pos]:
                max_pos = pos
        for a in arrays:
            a[i], a[max_pos] = a[max_pos], a[i]
        dets.append([x1[i], y1[i], x2[i], y2[i], sc[i]])
        pos = i + 1
        while pos < n:
            w = max(f(0), min(x2[i], x2[pos]) - max(x1[i], x1[pos]) + f(offset))
            h = max(f(0), min(y2[i], y2[pos]) - max(y1[i], y1[pos]) + f(offset))
            inter = w * h
            ovr = inter / (areas[i] + areas[pos] - inter)
            weight = f(1)
            if method == 0 and ovr >= f(iou_threshold):
                weight = f(0)
            elif method == 1 and ovr >= f(iou_threshold):
                weight = f(1) - ovr
            elif method == 2:
                weight = f(math.exp(-(ovr * ovr) / f(sigma)))
            sc[pos] = sc[pos] * weight
            if sc[pos] < f(min_score):
                for a in arrays:
                    a[pos] = a[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return np.array(dets, dtype=np.float32).reshape(-1, 5), np.array(inds[:n], dtype=np.int64)


def _clustered_boxes(n, seed, spread=40.0):
    """Boxes around a few centres (many overlaps) and their scores."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(4, 2, generator=g) * spread
    pick = torch.randint(0, 4, (n,), generator=g)
    ctr = centres[pick] + torch.randn(n, 2, generator=g) * 3
    wh = torch.rand(n, 2, generator=g) * 12 + 4
    boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], 1).clamp(min=0)
    return boxes, torch.rand(n, generator=g)


@pytest.mark.parametrize("method", ["linear", "gaussian", "naive"])
def test_soft_nms_equals_mmcv_operator_on_random_boxes(method):
    for seed in range(6):
        boxes, scores = _clustered_boxes(80, seed)
        for kwargs in (
            dict(iou_threshold=0.3, sigma=0.5, min_score=1e-3),
            dict(iou_threshold=0.5, sigma=0.1, min_score=0.05),
            dict(iou_threshold=0.3, sigma=0.5, min_score=0.2, offset=1),
        ):
            dets, inds = soft_nms(boxes, scores, method=method, **kwargs)
            ref_dets, ref_inds = mmcv_softnms_reference(
                boxes.numpy(),
                scores.numpy(),
                kwargs["iou_threshold"],
                kwargs["sigma"],
                kwargs["min_score"],
                METHODS[method],
                kwargs.get("offset", 0),
            )
            assert 0 < len(ref_inds) < 80 or method == "gaussian"
            np.testing.assert_array_equal(inds.numpy(), ref_inds)
            np.testing.assert_allclose(dets.numpy(), ref_dets, rtol=2e-6, atol=0)
            assert torch.equal(dets[:, :4], boxes[inds])


def test_soft_nms_hand_worked_and_arguments():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(box 0, box 1) = 50 / 100: linear decays 0.8 to 0.4; box 2 is untouched
    dets, inds = soft_nms(boxes, scores, iou_threshold=0.3, method="linear")
    assert inds.tolist() == [0, 2, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.4]))
    dets, _ = soft_nms(boxes, scores, sigma=0.5, method="gaussian")
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.8 * math.exp(-0.25 / 0.5)]))
    dets, inds = soft_nms(boxes, scores, iou_threshold=0.5, method="naive")
    assert inds.tolist() == [0, 2]  # naive = hard NMS (iou >= thr drops)
    # mmcv's docstring example: only the zero score goes
    example = torch.tensor([[4, 3, 5, 3], [4, 3, 5, 4]] + [[3, 1, 3, 1]] * 4, dtype=torch.float32)
    dets, inds = soft_nms(example, torch.tensor([0.9, 0.9, 0.5, 0.5, 0.4, 0.0]), 0.6, sigma=0.5)
    assert len(dets) == len(inds) == 5
    empty = soft_nms(boxes[:0], scores[:0])
    assert empty[0].shape == (0, 5) and empty[1].shape == (0,)
    with pytest.raises(ValueError, match="method"):
        soft_nms(boxes, scores, method="exp")
    with pytest.raises(ValueError, match="offset"):
        soft_nms(boxes, scores, offset=2)


def test_batched_soft_nms_keeps_groups_apart_and_splits_like_mmcv():
    boxes, scores = _clustered_boxes(120, 7)
    idxs = torch.randint(0, 3, (120,), generator=torch.Generator().manual_seed(1))
    cfg = dict(type="soft_nms", iou_threshold=0.3, min_score=0.05, method="gaussian")
    dets, keep = batched_soft_nms(boxes, scores, idxs, cfg)
    # mmcv: one operator run on boxes shifted by idx * (max + 1)
    shifted = boxes + (idxs.float() * (boxes.max() + 1))[:, None]
    ref_dets, ref_inds = mmcv_softnms_reference(
        shifted.numpy(), scores.numpy(), 0.3, 0.5, 0.05, METHODS["gaussian"]
    )
    np.testing.assert_array_equal(keep.numpy(), ref_inds)
    np.testing.assert_allclose(dets[:, 4].numpy(), ref_dets[:, 4], rtol=2e-6)
    assert torch.equal(dets[:, :4], boxes[keep])
    assert (dets[1:, 4] <= dets[:-1, 4]).all()
    # from split_thr boxes on: per group, then sorted; the same set and scores
    split, split_keep = batched_soft_nms(boxes, scores, idxs, dict(cfg, split_thr=10))
    assert sorted(split_keep.tolist()) == sorted(keep.tolist())
    torch.testing.assert_close(split[:, 4], dets[:, 4], rtol=1e-5, atol=0)
    top = batched_soft_nms(boxes, scores, idxs, dict(cfg, split_thr=10, max_num=5))[1]
    assert torch.equal(top, split_keep[:5])
    # class_agnostic: one group
    agnostic = batched_soft_nms(boxes, scores, idxs, dict(cfg, class_agnostic=True))[1]
    ref_agnostic = mmcv_softnms_reference(boxes.numpy(), scores.numpy(), 0.3, 0.5, 0.05, 2)[1]
    np.testing.assert_array_equal(agnostic.numpy(), ref_agnostic)
    with pytest.raises(KeyError, match="iou_thr"):
        batched_soft_nms(boxes, scores, idxs, dict(cfg, iou_thr=0.5))


def test_multiclass_nms_soft_returns_decayed_scores():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.7, 0.0], [0.05, 0.6, 0.0]])  # last: bg
    cfg = dict(type="soft_nms", iou_threshold=0.3, min_score=0.06)
    dets, labels = multiclass_nms(boxes, scores, 0.05, cfg, max_num=-1)
    # class 0: 0.9, 0.8 -> 0.4 (IoU 0.5); class 1: 0.7 and 0.6 apart, 0.1 (IoU 0.5 with 0.7)
    # -> 0.05 < min_score is dropped; 0.05 of box 2 for class 0 is not above score_thr
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7, 0.6, 0.4]))
    assert labels.tolist() == [0, 1, 1, 0]
    assert multiclass_nms(boxes, scores, 0.05, cfg, max_num=2)[0].shape == (2, 5)
    hard = multiclass_nms(boxes, scores, 0.05, dict(type="nms", iou_threshold=0.3))[0]
    assert hard[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.6])
    with pytest.raises(KeyError, match="soft_nms"):
        multiclass_nms(boxes, scores, 0.05, dict(type="matrix_nms"))


def test_soft_nms_through_rpn_and_rcnn_test_cfg(tiny_cfg):
    """``test_cfg.rpn.nms`` and ``test_cfg.rcnn.nms`` of type ``soft_nms`` reach the operator:
    RPN proposals carry decayed scores (mmdet's RPN returns ``batched_nms``'s dets)."""
    torch.manual_seed(0)
    cfg = tiny_cfg("FasterRCNN", with_mask=False)
    soft = dict(type="soft_nms", iou_threshold=0.5, min_score=0.05, method="linear")
    cfg["test_cfg"]["rpn"]["nms"] = dict(soft, iou_threshold=0.7)
    cfg["test_cfg"]["rcnn"]["nms"] = soft
    model = build_detector(cfg).eval()
    meta = dict(
        img_shape=(64, 96, 3),
        ori_shape=(64, 96, 3),
        pad_shape=(64, 96, 3),
        scale_factor=np.ones(4, np.float32),
        flip=False,
    )
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        x = model.extract_feat(img)
        cls_scores, bbox_preds = model.rpn_head(x)
        proposals = model.rpn_head.get_bboxes(cls_scores, bbox_preds, [meta])[0]
        hard = model.rpn_head.get_bboxes(
            cls_scores,
            bbox_preds,
            [meta],
            cfg=dict(cfg["test_cfg"]["rpn"], nms=dict(type="nms", iou_threshold=0.7)),
        )[0]
        results = model.simple_test(img, [meta], rescale=True)
    assert len(proposals) == 300 and (proposals[1:, 4] <= proposals[:-1, 4]).all()
    # soft-NMS keeps more boxes than hard NMS and lowers some of their scores
    assert len(proposals) > len(hard) or not torch.equal(proposals, hard)
    assert len(results) == 1 and all(b.shape[1] == 5 for b in results[0])
