"""RoIMasks (masks pasted on request): the same values as the eager paste, mmdet's lists from
them, and a huge image's result and drawing within a memory budget."""

import tracemalloc

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

import detkit
from detkit.structures.mask_paste import mask_windows, paste_mask_window, paste_masks_in_image
from detkit.structures.results import DetectionResult
from detkit.structures.roi_masks import MaskList, RoIMasks


def _random_masks(seed: int, n: int = 7, height: int = 90, width: int = 130, size: int = 28):
    gen = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, 1, size, size, generator=gen)
    probs[0] = 1.0  # saturated: non-zero up to half a cell beyond the box
    corner = torch.rand(n, 2, generator=gen) * torch.tensor([width, height]) * 1.2 - 10
    boxes = torch.cat(
        [corner, corner + torch.rand(n, 2, generator=gen) * torch.tensor([width, height])], 1
    )
    boxes[1, 2] = boxes[1, 0]  # zero width
    boxes[2] = torch.tensor([-5.0, -5.0, width + 5.0, height + 5.0])  # beyond the canvas
    return probs, boxes, height, width


@pytest.mark.parametrize("skip_empty", [True, False])
@pytest.mark.parametrize("threshold", [0.5, -1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lazy_masks_equal_the_eager_paste(skip_empty, threshold, seed):
    probs, boxes, height, width = _random_masks(seed)
    eager = paste_masks_in_image(probs, boxes, height, width, threshold, skip_empty)
    lazy = RoIMasks(probs, boxes, height, width, threshold, skip_empty)
    assert lazy.shape == tuple(eager.shape) and lazy.dtype == eager.dtype
    assert torch.equal(lazy.dense(), eager)
    windows = mask_windows(boxes, height, width, probs.shape[-1], skip_empty)
    for i in range(len(lazy)):
        assert torch.equal(lazy.full(i), eager[i])
        x0, y0, x1, y1 = windows[i].tolist()
        assert not eager[i][:y0].any() and not eager[i][y1:].any()
        assert not eager[i][:, :x0].any() and not eager[i][:, x1:].any()
        # row bands of a few rows give the same window
        banded = paste_mask_window(probs[i], boxes[i], windows[i], threshold, band_bytes=512)
        assert torch.equal(banded, eager[i][y0:y1, x0:x1])
    picked = lazy[torch.tensor([3, 0])]
    assert torch.equal(picked.dense(), eager[[3, 0]]) and torch.equal(lazy[4].dense(), eager[4:5])


def test_mmdet_lists_from_lazy_masks_equal_the_dense_ones():
    probs, boxes, height, width = _random_masks(3)
    labels = torch.tensor([1, 0, 2, 1, 0, 2, 1])
    scores = torch.linspace(0.9, 0.3, 7)
    lazy = DetectionResult(boxes, scores, labels, RoIMasks(probs, boxes, height, width, 0.5, True))
    dense = DetectionResult(boxes, scores, labels, lazy.dense_masks())
    lazy_bboxes, lazy_segms = lazy.to_mmdet(3)
    dense_bboxes, dense_segms = dense.to_mmdet(3)
    for c in range(3):
        np.testing.assert_array_equal(lazy_bboxes[c], dense_bboxes[c])
        assert isinstance(lazy_segms[c], MaskList) and len(lazy_segms[c]) == len(dense_segms[c])
        for got, want in zip(lazy_segms[c], dense_segms[c]):
            assert got.dtype == bool and got.shape == (height, width) and np.array_equal(got, want)
        assert np.array_equal(lazy_segms[c][-1], dense_segms[c][-1])
        assert mask_util.encode(
            np.asfortranarray(np.stack(lazy_segms[c], 2).astype(np.uint8))
        ) == mask_util.encode(np.asfortranarray(np.stack(dense_segms[c], 2).astype(np.uint8)))
    back = DetectionResult.from_mmdet((lazy_bboxes, lazy_segms))
    assert isinstance(back.masks, RoIMasks)
    assert torch.equal(
        back.dense_masks(), DetectionResult.from_mmdet((dense_bboxes, dense_segms)).masks
    )
    # the windows of both kinds blend into the same pixels
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert np.array_equal(
        detkit.viz.render_result(image, lazy, ["a", "b", "c"], 0.0),
        detkit.viz.render_result(image, dense, ["a", "b", "c"], 0.0),
    )


def test_huge_image_result_and_drawing_stay_within_a_budget():
    """A 4000x4000 result of 12 large masks holds its probabilities, not 12 x 16 MB of
    pixels, and drawing it allocates (numpy, traced) about one image copy, not the float32
    canvas (4 x the image) or the pasted masks."""
    size, n = 4000, 12
    gen = torch.Generator().manual_seed(0)
    corner = torch.rand(n, 2, generator=gen) * size * 0.4
    boxes = torch.cat([corner, corner + size * 0.55], 1)
    boxes[0] = torch.tensor([0.0, 0.0, size, size])  # one box over the whole image
    probs = torch.rand(n, 1, 28, 28, generator=gen)
    result = DetectionResult(
        boxes,
        torch.linspace(0.9, 0.5, n),
        torch.arange(n) % 3,
        RoIMasks(probs, boxes, size, size, 0.5, True),
    )
    held = result.masks.probs.numel() * result.masks.probs.element_size() + result.boxes.numel() * 4
    assert result.masks.shape == (n, size, size) and held < n * size * size / 1000
    image = np.full((size, size, 3), 100, np.uint8)
    detkit.viz.render_result(
        image[:32, :32], result[:0], ["a"], 0.0
    )  # imports and font loaded first
    tracemalloc.start()
    try:
        drawn = detkit.viz.render_result(image, result, ["a", "b", "c"], score_thr=0.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert drawn.shape == image.shape and (drawn != 100).any()
    assert peak < 1.5 * image.nbytes, f"drawing allocated {peak / 2**20:.0f} MiB"
    # mmdet's lists give one full-size mask at a time, equal to the eager paste
    segms = result.to_mmdet(3)[1]
    assert len(segms[0]) == 4 and np.array_equal(segms[0][0], result.masks[0].dense()[0].numpy())
