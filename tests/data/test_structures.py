"""Instances container and box helpers."""

import numpy as np
import pytest
import torch

from detkit.structures import Instances, box_areas, clip_boxes, xywh_to_xyxy, xyxy_to_xywh


def _instances() -> Instances:
    boxes = np.array([[0, 0, 10, 5], [2, 2, 4, 8], [1, 1, 3, 3]], np.float32)
    return Instances(
        (20, 30),
        bboxes=boxes,
        labels=np.array([0, 2, 1]),
        scores=torch.tensor([0.9, 0.1, 0.5]),
        names=["a", "b", "c"],
    )


@pytest.mark.parametrize(
    "index",
    [
        np.array([True, False, True]),
        torch.tensor([True, False, True]),
        np.array([0, 2]),
        torch.tensor([0, 2]),
        [0, 2],
        slice(0, 3, 2),
    ],
)
def test_joint_indexing_any_index_kind(index):
    kept = _instances()[index]
    assert len(kept) == 2
    assert kept.labels.tolist() == [0, 1]
    assert kept.names == ["a", "c"]
    assert torch.allclose(kept.scores, torch.tensor([0.9, 0.5]))
    assert kept.bboxes.shape == (2, 4) and kept.image_size == (20, 30)


def test_int_index_keeps_length_one():
    one = _instances()[-1]
    assert len(one) == 1 and one.names == ["c"] and one.bboxes.shape == (1, 4)
    with pytest.raises(IndexError):
        _instances()[3]


def test_length_mismatch_and_missing_field_raise():
    inst = _instances()
    with pytest.raises(ValueError, match="length 2 to Instances of length 3"):
        inst.labels2 = np.zeros(2)
    with pytest.raises(AttributeError, match="no field 'masks'"):
        _ = inst.masks
    inst.labels = np.array([5, 5, 5])  # replacing a field keeps the length rule
    assert inst.labels.tolist() == [5, 5, 5]


def test_cat():
    inst = _instances()
    both = Instances.cat([inst[[0]], inst[[1, 2]]])
    assert both.names == ["a", "b", "c"] and both.labels.tolist() == [0, 2, 1]


def test_box_helpers_numpy_and_torch():
    xywh = np.array([[1, 2, 3, 4]], np.float32)
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[1, 2, 4, 6]]
    assert xyxy_to_xywh(torch.from_numpy(xyxy)).tolist() == [[1, 2, 3, 4]]
    assert box_areas(xyxy).tolist() == [12]
    assert clip_boxes(np.array([[-5, -1, 40, 8]], np.float32), 6, 30).tolist() == [[0, 0, 30, 6]]
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        box_areas(np.zeros((3, 5)))
