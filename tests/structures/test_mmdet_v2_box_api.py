"""MMDetection v2's box / mask helpers as ``detkit.structures`` exports them (issue 19, part 3)."""

import numpy as np
import pytest
import torch

from detkit.structures import (
    PolygonMasks,
    bbox2roi,
    bbox_flip,
    bbox_mapping,
    bbox_mapping_back,
    bbox_overlaps,
    mask2bbox,
    roi2bbox,
)

A = [[0.0, 0.0, 10.0, 10.0]]
B = [[5.0, 5.0, 15.0, 15.0], [20.0, 20.0, 30.0, 30.0]]


def test_bbox_overlaps_torch_modes_aligned_and_batched():
    a, b = torch.tensor(A), torch.tensor(B)
    assert torch.allclose(bbox_overlaps(a, b), torch.tensor([[25 / 175, 0.0]]))
    assert torch.allclose(bbox_overlaps(a, b, mode="iof"), torch.tensor([[0.25, 0.0]]))
    giou = bbox_overlaps(a, b, mode="giou")
    assert torch.allclose(giou[0, 0], torch.tensor(25 / 175 - (225 - 175) / 225))
    assert torch.allclose(giou[0, 1], torch.tensor(-(900 - 200) / 900))
    aligned = bbox_overlaps(torch.tensor(B), torch.tensor(B[::-1]), is_aligned=True)
    assert aligned.shape == (2,) and torch.allclose(aligned, torch.zeros(2))
    batched = bbox_overlaps(a.expand(3, 1, 4), b.expand(3, 2, 4))
    assert batched.shape == (3, 1, 2) and torch.allclose(batched[2], bbox_overlaps(a, b))
    assert bbox_overlaps(torch.zeros(0, 4), b).shape == (0, 2)
    assert bbox_overlaps(torch.zeros(0, 4), torch.zeros(0, 4), is_aligned=True).shape == (0,)
    # a degenerate box: the union is clamped to eps, so 0 rather than NaN
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert bbox_overlaps(point, point).item() == 0.0


def test_bbox_overlaps_numpy_form():
    a, b = np.array(A), np.array(B)
    out = bbox_overlaps(a, b)
    assert out.dtype == np.float32 and np.allclose(out, [[25 / 175, 0.0]])
    # iof is relative to bboxes1 also when bboxes1 has more rows than bboxes2
    assert np.allclose(bbox_overlaps(b, a, mode="iof"), [[0.25], [0.0]])
    legacy = bbox_overlaps(a, b[:1], use_legacy_coordinate=True)
    assert np.allclose(legacy, [[36 / (121 + 121 - 36)]])
    assert bbox_overlaps(np.zeros((0, 4)), b).shape == (0, 2)
    with pytest.raises(ValueError, match="giou"):
        bbox_overlaps(a, b, mode="giou")
    with pytest.raises(TypeError, match="both box sets"):
        bbox_overlaps(a, torch.tensor(B))
    with pytest.raises(ValueError, match="4 columns"):
        bbox_overlaps(torch.zeros(2, 3), torch.tensor(B))


def test_mask2bbox_tensor_and_array():
    masks = torch.zeros(3, 6, 8, dtype=torch.bool)
    masks[0, 2:5, 1:4] = True
    masks[2, 5, 7] = True
    boxes = mask2bbox(masks)
    assert boxes.dtype == torch.float32
    assert boxes.tolist() == [[1, 2, 4, 5], [0, 0, 0, 0], [7, 5, 8, 6]]
    assert np.array_equal(mask2bbox(masks.numpy().astype(np.uint8)), boxes.numpy())
    assert mask2bbox(torch.zeros(0, 4, 4)).shape == (0, 4)


def test_bbox2roi_roi2bbox_round_trip():
    per_image = [
        torch.tensor([[1.0, 2, 3, 4]]),
        torch.zeros(0, 4),
        torch.tensor([[5.0, 6, 7, 8], [1.0, 1, 2, 2]]),
    ]
    rois = bbox2roi(per_image)
    assert rois[:, 0].tolist() == [0, 2, 2]
    back = roi2bbox(rois)
    # one entry per image *present* (image 1 has no boxes), in batch-index order, as mmdet
    assert (
        len(back) == 2 and torch.equal(back[0], per_image[0]) and torch.equal(back[1], per_image[2])
    )
    with pytest.raises(ValueError, match=r"\[K, 5\]"):
        roi2bbox(torch.zeros(3, 4))


def test_bbox_flip_and_mapping():
    boxes = torch.tensor([[1.0, 2.0, 4.0, 8.0]])
    assert bbox_flip(boxes, (10, 20), "horizontal").tolist() == [[16, 2, 19, 8]]
    assert bbox_flip(boxes, (10, 20), "vertical").tolist() == [[1, 2, 4, 8]]
    assert bbox_flip(boxes, (10, 20), "diagonal").tolist() == [[16, 2, 19, 8]]
    with pytest.raises(ValueError, match="flip direction"):
        bbox_flip(boxes, (10, 20), "sideways")
    scale = np.array([2.0, 0.5, 2.0, 0.5], dtype=np.float32)
    mapped = bbox_mapping(boxes, (5, 40), scale, True)
    assert mapped.tolist() == [[32, 1, 38, 4]]
    assert torch.allclose(bbox_mapping_back(mapped, (5, 40), scale, True), boxes)


def _square(x0, y0, side):
    return [np.array([x0, y0, x0 + side, y0, x0 + side, y0 + side, x0, y0 + side], np.float64)]


def test_polygon_crop_and_resize_returns_polygons():
    polys = PolygonMasks([_square(2, 2, 4), _square(0, 0, 2)], 8, 8)
    out = polys.crop_and_resize(
        torch.tensor([[2.0, 2.0, 6.0, 6.0], [0.0, 0.0, 4.0, 4.0]]), (4, 4), torch.tensor([0, 1])
    )
    assert isinstance(out, PolygonMasks) and len(out) == 2 and (out.height, out.width) == (4, 4)
    assert out.masks[0][0].tolist() == [0, 0, 4, 0, 4, 4, 0, 4]
    assert out.masks[1][0].tolist() == [0, 0, 2, 0, 2, 2, 0, 2]
    # a box thinner than a pixel counts as 1 px wide (mmdet's max(w, 1))
    thin = polys.crop_and_resize(np.array([[2.0, 2.0, 2.5, 6.0]]), (4, 4), np.array([0]))
    assert thin.masks[0][0][0::2].tolist() == [0, 16, 16, 0]
    empty = PolygonMasks([], 8, 8).crop_and_resize(np.zeros((0, 4)), (3, 5), np.zeros(0))
    assert isinstance(empty, PolygonMasks) and (len(empty), empty.height, empty.width) == (0, 3, 5)
    assert empty.to_ndarray().shape == (0, 3, 5)
    assert len(polys.crop_and_resize(np.zeros((0, 4)), (3, 3), np.zeros(0))) == 0
    with pytest.raises(ValueError, match="always binary"):
        polys.crop_and_resize(np.array([[0.0, 0, 4, 4]]), (4, 4), np.array([0]), binarize=False)


def test_polygon_indexing_types_as_mmdet():
    polys = PolygonMasks([_square(0, 0, 2), _square(2, 2, 2), _square(4, 4, 2)], 8, 8)
    assert len(polys[1]) == 1 and polys[1].masks[0][0][0] == 2
    assert len(polys[[0, 2]]) == 2 and len(polys[np.array([2, 0])]) == 2
    assert [m[0][0] for m in polys[np.array([True, False, True])].masks] == [0, 4]
    assert len(polys[0:2]) == 2 and len(polys[np.int64(2)]) == 1
    assert polys[torch.tensor(1)].masks[0][0][0] == 2  # a 0-d tensor is an index for a list
    for bad in (torch.tensor([0, 1]), "0", 1.5):
        with pytest.raises(ValueError, match=f"unsupported input of type {type(bad)!s}"):
            polys[bad]
