"""BitmapMasks / PolygonMasks: MMDetection v2 API on hand-made toy masks with exact results."""

import numpy as np
import pytest
import torch

import detkit
from detkit.structures.masks import BitmapMasks, PolygonMasks, polygon_to_bitmap

TOY_BITMAP = np.array([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=np.uint8)[None]
TOY_POLYGON = [[np.array([1, 0, 2, 0, 2, 1, 1, 1], dtype=np.float64)]]


def _random_bitmaps(n=3, h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    return BitmapMasks((rng.random((n, h, w)) > 0.5).astype(np.uint8), h, w)


def test_public_names():
    assert detkit.structures.BitmapMasks is BitmapMasks
    assert detkit.structures.PolygonMasks is PolygonMasks


def test_bitmap_construction_variants():
    masks = _random_bitmaps()
    assert masks.masks.shape == (3, 12, 16)
    from_list = BitmapMasks(list(masks.masks), 12, 16)
    assert np.array_equal(from_list.masks, masks.masks)
    empty = BitmapMasks([], 5, 7)
    assert empty.masks.shape == (0, 5, 7) and empty.masks.dtype == np.uint8 and len(empty) == 0
    with pytest.raises(ValueError, match="does not match"):
        BitmapMasks(masks.masks, 10, 16)


@pytest.mark.parametrize(
    "index", [1, [0, 2], np.array([2, 0]), np.array([True, False, True]), slice(0, 2)]
)
def test_indexing_keeps_type(index):
    bitmaps = _random_bitmaps()
    polys = PolygonMasks([[np.arange(6, dtype=np.float64) + i] for i in range(3)], 12, 16)
    expected = np.arange(3)[index].reshape(-1)
    sub_b, sub_p = bitmaps[index], polys[index]
    assert isinstance(sub_b, BitmapMasks) and isinstance(sub_p, PolygonMasks)
    assert np.array_equal(sub_b.masks, bitmaps.masks[expected])
    assert [p[0][0] for p in sub_p.masks] == [float(i) for i in expected]


def test_bitmap_simple_ops():
    masks = BitmapMasks(TOY_BITMAP, 2, 4)
    assert masks.areas.tolist() == [3]
    assert masks.flip("horizontal").masks[0].tolist() == [[0, 1, 1, 0], [0, 0, 1, 0]]
    assert masks.flip("vertical").masks[0].tolist() == [[0, 1, 0, 0], [0, 1, 1, 0]]
    assert masks.flip("diagonal").masks[0].tolist() == [[0, 0, 1, 0], [0, 1, 1, 0]]
    padded = masks.pad((3, 6))
    assert (
        padded.masks.shape == (1, 3, 6)
        and padded.masks[0, :2, :4].tolist() == TOY_BITMAP[0].tolist()
    )
    assert padded.masks[0, 2:].sum() == 0 and padded.masks[0, :, 4:].sum() == 0
    cropped = masks.crop(np.array([1, 0, 3, 2]))
    assert (cropped.height, cropped.width) == (2, 2) and cropped.masks[0].tolist() == [
        [1, 1],
        [1, 0],
    ]
    expanded = masks.expand(4, 6, 1, 2)
    assert expanded.masks[0, 1:3, 2:6].tolist() == TOY_BITMAP[0].tolist() and expanded.areas[0] == 3
    assert masks.get_bboxes().tolist() == [[1.0, 0.0, 3.0, 2.0]]
    tensor = masks.to_tensor(torch.float32, "cpu")
    assert tensor.dtype == torch.float32 and tensor.shape == (1, 2, 4)


def test_bitmap_resize_nearest_and_rescale():
    masks = BitmapMasks(TOY_BITMAP, 2, 4)
    up = masks.resize((4, 8))
    assert up.masks[0].tolist() == np.repeat(np.repeat(TOY_BITMAP[0], 2, 0), 2, 1).tolist()
    # rescale to (long, short) = (8, 4): factor min(8/4, 4/2) = 2
    assert masks.rescale((8, 4)).masks.shape == (1, 4, 8)
    assert masks.rescale(0.5).masks.shape == (1, 1, 2)
    assert BitmapMasks([], 2, 4).rescale(2.0).masks.shape == (0, 4, 8)


def test_bitmap_rotate_translate_exact():
    masks = BitmapMasks(TOY_BITMAP, 2, 4)
    rotated = masks.rotate((2, 4), 90)  # clockwise about (1.5, 0.5)
    assert rotated.masks[0].tolist() == [[0, 1, 1, 0], [0, 0, 1, 0]]
    assert masks.translate((2, 4), 1).masks[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 0]]
    assert masks.translate((2, 4), -1, "vertical").masks[0].tolist() == [[0, 1, 0, 0], [0, 0, 0, 0]]
    assert BitmapMasks([], 2, 4).rotate((2, 4), 30).masks.shape == (0, 2, 4)


def test_bitmap_shear_matches_point_map():
    img = np.zeros((1, 6, 6), dtype=np.uint8)
    img[0, 2, 1] = 1  # (x=1, y=2)
    sheared = BitmapMasks(img, 6, 6).shear((6, 6), 1.0, "horizontal")
    assert np.argwhere(sheared.masks[0]).tolist() == [[2, 3]]  # x + m*y = 3
    sheared = BitmapMasks(img, 6, 6).shear((6, 6), 1.0, "vertical")
    assert np.argwhere(sheared.masks[0]).tolist() == [[3, 1]]  # y + m*x = 3


def test_crop_and_resize_roi_align():
    mask = np.zeros((1, 8, 8), dtype=np.uint8)
    mask[0, 2:6, 2:6] = 1
    masks = BitmapMasks(mask, 8, 8)
    out = masks.crop_and_resize(np.array([[2.0, 2.0, 6.0, 6.0]], np.float32), (4, 4), np.array([0]))
    assert out.masks.shape == (1, 4, 4) and out.masks.all()
    half = masks.crop_and_resize(
        np.array([[0.0, 2.0, 4.0, 6.0]], np.float32), (2, 2), np.array([0])
    )
    assert half.masks[0].tolist() == [[0, 1], [0, 1]]
    soft = masks.crop_and_resize(
        torch.tensor([[0.0, 2.0, 4.0, 6.0]]), (2, 2), torch.tensor([0]), binarize=False
    )
    assert soft.masks.dtype == np.float32 and np.allclose(soft.masks[0], [[0, 1], [0, 1]])
    assert len(BitmapMasks([], 8, 8).crop_and_resize(np.zeros((0, 4)), (3, 3), np.zeros(0))) == 0


def test_polygon_ops_exact():
    polys = PolygonMasks(TOY_POLYGON, 2, 4)
    assert polys.areas.tolist() == [1.0]
    assert polys.get_bboxes().tolist() == [[1.0, 0.0, 2.0, 1.0]]
    rotated = polys.rotate((2, 4), 90)
    assert np.allclose(rotated.masks[0][0], [2, 0, 2, 1, 1, 1, 1, 0], atol=1e-9)
    assert polys.translate((2, 4), 1).masks[0][0].tolist() == [2, 0, 3, 0, 3, 1, 2, 1]
    assert polys.translate((2, 4), 3).masks[0][0].tolist() == [4, 0, 4, 0, 4, 1, 4, 1]
    assert polys.flip("horizontal").masks[0][0].tolist() == [3, 0, 2, 0, 2, 1, 3, 1]
    assert polys.resize((4, 8)).masks[0][0].tolist() == [2, 0, 4, 0, 4, 2, 2, 2]
    assert polys.shear((2, 4), 1.0).masks[0][0].tolist() == [1, 0, 2, 0, 3, 1, 2, 1]
    assert polys.pad((5, 5)).height == 5
    assert polys.expand(4, 6, 1, 2).masks[0][0].tolist() == [3, 1, 4, 1, 4, 2, 3, 2]
    assert polys.crop(np.array([1, 0, 3, 2])).masks[0][0].tolist() == [0, 0, 1, 0, 1, 1, 0, 1]
    with pytest.raises(ValueError, match="fill_val"):
        polys.translate((2, 4), 1, fill_val=3)


def test_polygon_rasterisation_and_crop_and_resize():
    square = [[np.array([2, 2, 6, 2, 6, 6, 2, 6], dtype=np.float64)]]
    polys = PolygonMasks(square, 8, 8)
    bitmap = polys.to_bitmap()
    assert isinstance(bitmap, BitmapMasks) and bitmap.masks.shape == (1, 8, 8)
    assert np.array_equal(bitmap.masks[0], polygon_to_bitmap(square[0], 8, 8))
    assert bitmap.areas[0] == 16
    out = polys.crop_and_resize(np.array([[2.0, 2.0, 6.0, 6.0]]), (4, 4), np.array([0]))
    assert isinstance(out, PolygonMasks) and (out.height, out.width) == (4, 4)
    assert out.to_ndarray().shape == (1, 4, 4) and out.to_ndarray().all()
    assert PolygonMasks([], 3, 3).to_ndarray().shape == (0, 3, 3)


def _mmcv_stack_warp(stack, params, flag=None):
    """mmcv's mask warp: one cv2.warpAffine of the (H, W, N) view of the stack."""
    import cv2

    h, w = stack.shape[1:]
    out = cv2.warpAffine(
        stack.transpose(1, 2, 0),
        params.matrix(h, w),
        (w, h),
        flags=cv2.INTER_LINEAR if flag is None else flag,
        borderValue=0,
    )
    return out.reshape(h, w, -1).transpose(2, 0, 1)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 6, 22])
@pytest.mark.parametrize("kind", ["rotate", "translate", "shear"])
def test_roi_mask_warps_equal_mmcv_stack_warp(kind, count):
    """Bit for bit as mmcv's one warpAffine of the whole stack, whichever OpenCV path (fixed
    point, or OpenCV 5's float coordinates for 1, 3 or 4 channels) that call takes."""
    from detkit.structures.affine import AffineParams

    rng = np.random.default_rng(1)
    stack = np.zeros((count, 60, 90), dtype=np.uint8)
    for m in stack[min(1, count - 1) :]:
        x, y = rng.integers(0, 80), rng.integers(0, 50)
        m[y : y + rng.integers(1, 25), x : x + rng.integers(1, 30)] = 1
        m &= (rng.random(m.shape) > 0.3).astype(np.uint8)
    masks = BitmapMasks(stack, 60, 90)
    if kind == "rotate":
        out, params = masks.rotate((60, 90), 17.0), AffineParams(angle=17.0)
    elif kind == "translate":
        out, params = (
            masks.translate((60, 90), -13, "vertical"),
            AffineParams(translate=(0.0, -13.0)),
        )
    else:
        out, params = masks.shear((60, 90), 0.25), AffineParams(shear=(0.25, 0.0))
    assert np.array_equal(out.masks, _mmcv_stack_warp(stack, params))


def test_roi_nearest_warp_equals_mmcv_stack_warp():
    import cv2

    from detkit.structures.affine import AffineParams
    from detkit.structures.mask_ops import mask_rects, warp_stack

    rng = np.random.default_rng(5)
    stack = (rng.random((7, 64, 96)) > 0.7).astype(np.uint8)
    params = AffineParams(angle=-31.0, scale=1.2)
    out, _ = warp_stack(stack, params.matrix(64, 96), "nearest", mask_rects(stack))
    assert np.array_equal(out, _mmcv_stack_warp(stack, params, cv2.INTER_NEAREST))


def test_nearest_resize_equals_cv2():
    import cv2

    rng = np.random.default_rng(2)
    stack = (rng.random((3, 37, 53)) > 0.6).astype(np.uint8)
    stack[0] = 0
    out = BitmapMasks(stack, 37, 53).resize((80, 91))
    expected = np.stack([cv2.resize(m, (91, 80), interpolation=cv2.INTER_NEAREST) for m in stack])
    assert np.array_equal(out.masks, expected)


def test_fortran_ordered_masks_are_stored_c_contiguous():
    rng = np.random.default_rng(3)
    columns_major = [
        np.asfortranarray((rng.random((7, 9)) > 0.5).astype(np.uint8)) for _ in range(3)
    ]
    masks = BitmapMasks(columns_major, 7, 9)
    assert masks.masks.flags["C_CONTIGUOUS"]
    assert np.array_equal(masks.masks, np.stack([np.ascontiguousarray(m) for m in columns_major]))


def test_rectangle_kernels_chain_equals_whole_mask_opencv():
    """rotate -> index -> resize -> flip -> pad with remembered rectangles == plain OpenCV calls."""
    import cv2

    from detkit.structures.affine import AffineParams

    rng = np.random.default_rng(4)
    stack = np.zeros((5, 64, 96), dtype=np.uint8)
    for m in stack[:4]:
        x, y = rng.integers(0, 85), rng.integers(0, 55)
        m[y : y + rng.integers(2, 20), x : x + rng.integers(2, 30)] = 1
    masks = BitmapMasks(stack, 64, 96)
    out = (
        masks.rotate((64, 96), 23.0)[np.array([3, 0, 4, 1])]
        .resize((50, 70))
        .flip("diagonal")
        .pad((64, 96))
    )
    ref = _mmcv_stack_warp(stack, AffineParams(angle=23.0))[[3, 0, 4, 1]]
    ref = np.stack([cv2.resize(m, (70, 50), interpolation=cv2.INTER_NEAREST) for m in ref])
    ref = np.stack([cv2.flip(m, -1) for m in ref])
    ref = np.pad(ref, ((0, 0), (0, 14), (0, 26)))
    assert np.array_equal(out.masks, ref)
    assert out.rects[2] is None  # the empty mask stays empty
    assert all(
        r is None or out.masks[i][r[1] : r[3], r[0] : r[2]].sum() == out.masks[i].sum()
        for i, r in enumerate(out.rects)
    )


def test_masks_of_different_sizes_are_rejected():
    with pytest.raises(ValueError, match="different sizes"):
        BitmapMasks([np.zeros((4, 5), np.uint8), np.zeros((4, 6), np.uint8)], 4, 5)
