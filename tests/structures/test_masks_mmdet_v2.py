"""MMDetection v2's own mask tests, ported: ``tests/test_utils/test_masks.py`` of the 2.x line
(as in v2.28). Each test names the v2 test it pins; hand-worked truths are mmdet's. Where mmdet
asserts, detkit raises a clearer ``TypeError``/``ValueError``; where mmdet raises
``NotImplementedError`` (polygon ``expand``) detkit expands."""

import numpy as np
import pytest
import torch

from detkit.structures.masks import BitmapMasks, PolygonMasks

RNG = np.random.default_rng(0)


def raw_bitmaps(shape):
    return RNG.integers(0, 2, shape, dtype=np.uint8)


def raw_polygons(n, size=28):
    return [[RNG.uniform(0, size, int(RNG.integers(5)) * 2 + 6)] for _ in range(n)]


def boxes(n, size=28):
    x1y1 = RNG.integers(0, size // 2, (n, 2))
    return np.concatenate([x1y1, x1y1 + RNG.integers(0, size // 2, (n, 2))], 1).astype(np.float32)


POLY_5X5 = [[np.array([1, 1, 3, 1, 4, 3, 2, 4, 1, 3], dtype=np.float64)]]
POLY_5X5_AT_10 = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ],
    np.uint8,
)


def test_bitmap_mask_init():
    """v2 ``test_bitmap_mask_init``."""
    for raw in (np.empty((0, 28, 28), np.uint8), []):
        m = BitmapMasks(raw, 28, 28)
        assert len(m) == 0 and (m.height, m.width) == (28, 28)
    for raw in (raw_bitmaps((3, 28, 28)), [raw_bitmaps((28, 28)) for _ in range(3)]):
        m = BitmapMasks(raw, 28, 28)
        assert len(m) == 3 and (m.height, m.width) == (28, 28)
    with pytest.raises(TypeError):
        BitmapMasks([[raw_bitmaps((28, 28))]], 28, 28)


def test_bitmap_mask_rescale_and_resize():
    """v2 ``test_bitmap_mask_rescale`` and ``test_bitmap_mask_resize``."""
    empty = BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28)
    rescaled = empty.rescale((56, 72))
    assert len(rescaled) == 0 and (rescaled.height, rescaled.width) == (56, 56)
    resized = empty.resize((56, 72))
    assert len(resized) == 0 and (resized.height, resized.width) == (56, 72)

    m = BitmapMasks(np.array([[[1, 0, 0, 0], [0, 1, 0, 1]]], np.uint8), 2, 4)
    rescaled = m.rescale((8, 8))
    assert (rescaled.height, rescaled.width) == (4, 8)
    truth = [[1, 1, 0, 0, 0, 0, 0, 0]] * 2 + [[0, 0, 1, 1, 0, 0, 1, 1]] * 2
    np.testing.assert_array_equal(rescaled.masks, [truth])

    diag = BitmapMasks(np.eye(4, dtype=np.uint8)[None], 4, 4)
    square = diag.resize((8, 8))
    np.testing.assert_array_equal(
        square.masks[0], np.kron(np.eye(4, dtype=np.uint8), np.ones((2, 2)))
    )
    wide = diag.resize((4, 8))
    np.testing.assert_array_equal(
        wide.masks[0], np.kron(np.eye(4, dtype=np.uint8), np.ones((1, 2)))
    )


def test_bitmap_mask_get_bboxes():
    """v2 ``test_bitmap_mask_get_bboxes``."""
    assert len(BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28).get_bboxes()) == 0
    raw = np.zeros((1, 8, 8), np.uint8)
    raw[0, 1, 1:4] = raw[0, 2, 2:4] = raw[0, 3, 2:5] = raw[0, 4, 2:6] = raw[0, 5, 2] = 1
    np.testing.assert_array_equal(BitmapMasks(raw, 8, 8).get_bboxes(), [[1, 1, 6, 6]])
    raw = np.zeros((1, 4, 8), np.uint8)
    raw[0, 0, :2] = raw[0, 1, 2:4] = raw[0, 2, 5] = 1
    np.testing.assert_array_equal(BitmapMasks(raw, 4, 8).get_bboxes(), [[0, 0, 6, 3]])


@pytest.mark.parametrize(
    "direction,flip",
    [
        ("horizontal", (slice(None), slice(None, None, -1))),
        ("vertical", (slice(None, None, -1), slice(None))),
        ("diagonal", (slice(None, None, -1), slice(None, None, -1))),
    ],
)
def test_bitmap_and_polygon_mask_flip(direction, flip):
    """v2 ``test_bitmap_mask_flip`` and ``test_polygon_mask_flip``: empty sets keep their size,
    flipping twice is the identity, bitmaps equal the reversed arrays."""
    for empty in (BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28), PolygonMasks([], 28, 28)):
        flipped = empty.flip(flip_direction=direction)
        assert len(flipped) == 0 and (flipped.height, flipped.width) == (28, 28)
        assert flipped.to_ndarray().shape == (0, 28, 28)
    raw = raw_bitmaps((3, 28, 28))
    m = BitmapMasks(raw, 28, 28)
    flipped = m.flip(flip_direction=direction)
    assert flipped.masks.shape == (3, 28, 28)
    np.testing.assert_array_equal(flipped.masks, raw[(slice(None), *flip)])
    np.testing.assert_array_equal(flipped.flip(flip_direction=direction).masks, raw)
    poly = PolygonMasks(raw_polygons(3), 28, 28)
    twice = poly.flip(flip_direction=direction).flip(flip_direction=direction)
    assert len(twice) == 3 and twice.to_ndarray().shape == (3, 28, 28)
    np.testing.assert_array_equal(twice.to_ndarray(), poly.to_ndarray())


def test_bitmap_mask_pad_crop_expand():
    """v2 ``test_bitmap_mask_pad``, ``test_bitmap_mask_crop``, ``test_bitmap_mask_expand``."""
    raw = raw_bitmaps((3, 28, 28))
    for n, src in ((0, raw_bitmaps((0, 28, 28))), (3, raw)):
        m = BitmapMasks(src, 28, 28)
        padded = m.pad((56, 56))
        assert len(padded) == n and (padded.height, padded.width) == (56, 56)
        assert (padded.masks[:, 28:, 28:] == 0).all()
        cropped = m.crop(np.array([0, 10, 10, 27]))
        assert len(cropped) == n and (cropped.height, cropped.width) == (17, 10)
        np.testing.assert_array_equal(cropped.masks, src[:, 10:27, 0:10])
        expanded = m.expand(56, 56, 12, 14)
        assert len(expanded) == n and (expanded.height, expanded.width) == (56, 56)
        assert (expanded.masks[:, :12, :14] == 0).all() and (expanded.masks[:, 40:, 42:] == 0).all()
        np.testing.assert_array_equal(expanded.masks[:, 12:40, 14:42], src)
    with pytest.raises(ValueError):
        BitmapMasks(raw, 28, 28).crop(boxes(2))


def test_mask_crop_and_resize_counts():
    """v2 ``test_bitmap_mask_crop_and_resize`` / ``test_polygon_mask_crop_and_resize``."""
    rois, inds = boxes(5), RNG.integers(0, 3, 5)
    for m in (BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28), PolygonMasks([], 28, 28)):
        out = m.crop_and_resize(rois, (56, 56), inds)
        assert len(out) == 0 and (out.height, out.width) == (56, 56)
    for m in (BitmapMasks(raw_bitmaps((3, 28, 28)), 28, 28), PolygonMasks(raw_polygons(3), 28, 28)):
        out = m.crop_and_resize(rois, (56, 56), inds)
        assert len(out) == 5 and out.to_ndarray().shape == (5, 56, 56)


def test_bitmap_mask_areas_conversions_index_iter():
    """v2 ``test_bitmap_mask_area``, ``_to_ndarray``, ``_to_tensor``, ``_index``, ``_iter``."""
    assert BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28).areas.sum() == 0
    raw = raw_bitmaps((3, 28, 28))
    m = BitmapMasks(raw, 28, 28)
    np.testing.assert_array_equal(m.areas, raw.sum((1, 2)))
    assert isinstance(m.to_ndarray(), np.ndarray) and (m.to_ndarray() == raw).all()
    t = m.to_tensor(dtype=torch.uint8, device="cpu")
    assert isinstance(t, torch.Tensor) and (t.numpy() == raw).all()
    empty = BitmapMasks(raw_bitmaps((0, 28, 28)), 28, 28)
    assert empty.to_ndarray().shape == (0, 28, 28)
    assert empty.to_tensor(dtype=torch.uint8, device="cpu").shape == (0, 28, 28)
    np.testing.assert_array_equal(m[0].masks, raw[:1])
    np.testing.assert_array_equal(m[range(2)].masks, raw[:2])
    for i, mask in enumerate(m):
        assert mask.shape == (28, 28) and (mask == raw[i]).all()


def test_polygon_mask_init():
    """v2 ``test_polygon_mask_init``."""
    m = PolygonMasks(raw_polygons(3), 28, 28)
    assert isinstance(m.masks, list) and isinstance(m.masks[0], list)
    assert isinstance(m.masks[0][0], np.ndarray)
    assert len(m) == 3 and m.to_ndarray().shape == (3, 28, 28)
    with pytest.raises((TypeError, ValueError)):
        PolygonMasks([[[]]], 28, 28)


def test_polygon_mask_rescale_and_resize():
    """v2 ``test_polygon_mask_rescale`` and ``test_polygon_mask_resize`` (their truths)."""
    empty = PolygonMasks([], 28, 28)
    assert empty.rescale((56, 72)).to_ndarray().shape == (0, 56, 56)
    resized = empty.resize((56, 72))
    assert resized.to_ndarray().shape == (0, 56, 72) and len(resized.get_bboxes()) == 0
    poly = PolygonMasks(POLY_5X5, 5, 5)
    rescaled = poly.rescale((12, 10))
    assert (rescaled.height, rescaled.width) == (10, 10)
    np.testing.assert_array_equal(rescaled.to_ndarray()[0], POLY_5X5_AT_10)
    resized = poly.resize((10, 10))
    np.testing.assert_array_equal(resized.to_ndarray()[0], POLY_5X5_AT_10)
    np.testing.assert_array_equal(resized.get_bboxes(), [[2, 2, 8, 8]])
    two_parts = [
        [
            np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
            np.array([1.0, 1.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0]),
        ]
    ]
    truth2 = np.zeros((6, 6), np.uint8)
    truth2[0, 1] = 1
    truth2[2:4, 2:4] = 1
    np.testing.assert_array_equal(
        PolygonMasks(two_parts, 3, 3).resize((6, 6)).to_ndarray()[0], truth2
    )
    both = PolygonMasks(POLY_5X5 + two_parts, 5, 5).resize((10, 10)).to_ndarray()
    np.testing.assert_array_equal(
        both, np.stack([POLY_5X5_AT_10, np.pad(truth2, ((0, 4), (0, 4)))])
    )
    wide = PolygonMasks(POLY_5X5, 5, 5).resize((5, 10)).to_ndarray()[0]
    truth4 = np.zeros((5, 10), np.uint8)
    truth4[1, 2:7] = 1
    truth4[2, 2:8] = 1
    truth4[3, 3:6] = 1
    np.testing.assert_array_equal(wide, truth4)


def test_polygon_mask_crop_pad_expand():
    """v2 ``test_polygon_mask_crop``, ``test_polygon_mask_pad``, ``test_polygon_mask_expand``
    (mmdet raises NotImplementedError; detkit expands polygons like bitmaps)."""
    empty = PolygonMasks([], 28, 28).crop(np.array([0, 10, 10, 27]))
    assert (empty.height, empty.width) == (17, 10) and empty.to_ndarray().shape == (0, 17, 10)
    quad = PolygonMasks([[np.array([1.0, 3.0, 5.0, 1.0, 5.0, 6.0, 1, 6])]], 7, 7)
    cropped = quad.crop(np.array([0, 0, 3, 4]))
    assert (cropped.height, cropped.width) == (4, 3)
    np.testing.assert_array_equal(
        cropped.to_ndarray()[0], [[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 1]]
    )
    with pytest.raises(ValueError):
        quad.crop(boxes(2))
    poly = PolygonMasks(raw_polygons(3), 28, 28)
    padded = poly.pad((56, 56))
    assert (
        padded.to_ndarray().shape == (3, 56, 56) and (padded.to_ndarray()[:, 28:, 28:] == 0).all()
    )
    expanded = poly.expand(56, 56, 10, 17)
    np.testing.assert_array_equal(expanded.to_ndarray()[:, 10:38, 17:45], poly.to_ndarray())


def test_polygon_mask_area_conversions_index_iter():
    """v2 ``test_polygon_mask_area``, ``_to_bitmap``, ``_to_ndarray``, ``test_polygon_to_tensor``,
    ``_index``, ``_iter``."""
    assert PolygonMasks([], 28, 28).areas.sum() == 0
    tri = PolygonMasks([[np.array([1, 1, 5, 1, 3, 4], dtype=np.float64)]], 6, 6)
    assert np.isclose(tri.areas, tri.to_bitmap().areas).all()
    raw = raw_polygons(3)
    poly = PolygonMasks(raw, 28, 28)
    np.testing.assert_array_equal(poly.to_bitmap().to_ndarray(), poly.to_ndarray())
    t = poly.to_tensor(dtype=torch.uint8, device="cpu")
    assert t.shape == (3, 28, 28) and (t.numpy() == poly.to_ndarray()).all()
    assert PolygonMasks([], 28, 28).to_tensor(dtype=torch.uint8, device="cpu").shape == (0, 28, 28)
    for index in (0, [0, 1], np.asarray([0, 1])):
        assert isinstance(poly[index], PolygonMasks)
    with pytest.raises((TypeError, ValueError)):
        poly[torch.Tensor([1, 2])]
    for i, parts in enumerate(poly):
        assert np.equal(parts, raw[i]).all()
