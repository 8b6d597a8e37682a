"""``DetectionResult.from_mmdet`` inverts ``to_mmdet`` (rows in class-major order)."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import torch

from detkit.structures.results import DetectionResult


def make_result(with_masks: bool) -> DetectionResult:
    boxes = torch.tensor([[0, 0, 4, 4], [1, 1, 5, 3], [2, 0, 6, 2]], dtype=torch.float32)
    masks = torch.zeros(3, 6, 8, dtype=torch.bool)
    for i in range(3):
        masks[i, i : i + 2, i : i + 3] = True
    return DetectionResult(
        boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([2, 0, 2]), masks if with_masks else None
    )


def test_round_trip_is_class_major():
    for with_masks in (False, True):
        result = make_result(with_masks)
        back = DetectionResult.from_mmdet(result.to_mmdet(num_classes=3))
        order = torch.tensor([1, 0, 2])  # class 0's row, then class 2's in their order
        torch.testing.assert_close(back.boxes, result.boxes[order])
        torch.testing.assert_close(back.scores, result.scores[order])
        assert back.labels.tolist() == [0, 2, 2] and back.labels.dtype == torch.int64
        if with_masks:
            assert torch.equal(back.masks, result.masks[order])
        else:
            assert back.masks is None


def test_rle_masks_with_scores_and_empty_results():
    bbox_results, segm_results = make_result(True).to_mmdet(num_classes=3)
    rles = [
        [mask_util.encode(np.asfortranarray(m.astype(np.uint8))) for m in per_class]
        for per_class in segm_results
    ]
    scores = [[1.0] * len(per_class) for per_class in segm_results]
    decoded = DetectionResult.from_mmdet((bbox_results, (rles, scores)))
    assert torch.equal(
        decoded.masks, DetectionResult.from_mmdet((bbox_results, segm_results)).masks
    )
    empty = DetectionResult.from_mmdet(([np.zeros((0, 5), np.float32)] * 2, [[], []]))
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.masks is None
