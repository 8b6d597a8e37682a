"""Mosaic / MixUp / CopyPaste and MultiImageMixDataset: toy cases, invariants, and seeded-RNG
equivalence with MMDetection v2.28's code for images, boxes and labels (re-stated here)."""

import copy

import cv2
import numpy as np
import pytest
import torch

from detkit.data.datasets import MultiImageMixDataset
from detkit.data.transforms.copy_paste import CopyPaste
from detkit.data.transforms.mix import MixUp, Mosaic
from detkit.structures.masks import BitmapMasks, PolygonMasks

from .toy import copy_results, random_results


class ListDataset:
    """Loaded samples (what a dataset whose pipeline stops after loading returns)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, idx):
        return copy.deepcopy(self.samples[idx])

    def get_ann_info(self, idx):
        return {"bboxes": self.samples[idx]["gt_bboxes"]}


def _mask_boxes_agree(results, atol=1.0):
    masks = results["gt_masks"]
    masks = masks.to_bitmap() if hasattr(masks, "to_bitmap") else masks
    h, w = results["img"].shape[:2]
    assert masks.masks.shape[1:] == (h, w)
    assert len(masks) == len(results["gt_bboxes"]) == len(results["gt_labels"])
    boxes = results["gt_bboxes"]
    wide = ((boxes[:, 2] - boxes[:, 0]) >= 1) & (
        (boxes[:, 3] - boxes[:, 1]) >= 1
    )  # sub-pixel slivers rasterise empty
    np.testing.assert_allclose(masks.get_bboxes()[wide], boxes[wide], atol=atol)


def _mmdet_mosaic_boxes(t, patches, cx, cy):
    """mmdet v2.28 Mosaic._mosaic_transform for the boxes/labels (and the image)."""
    s_h, s_w = t.img_scale
    canvas = np.full((s_h * 2, s_w * 2, 3), t.pad_val, np.uint8)
    boxes, labels = [], []
    for loc, p in zip(("top_left", "top_right", "bottom_left", "bottom_right"), patches):
        h_i, w_i = p["img"].shape[:2]
        r = min(s_h / h_i, s_w / w_i)
        img_i = cv2.resize(p["img"], (int(w_i * r), int(h_i * r)))
        paste, crop = t._combine(loc, cx, cy, img_i.shape[1], img_i.shape[0])
        canvas[paste[1] : paste[3], paste[0] : paste[2]] = img_i[
            crop[1] : crop[3], crop[0] : crop[2]
        ]
        b = p["gt_bboxes"].copy()
        b[:, 0::2] = r * b[:, 0::2] + paste[0] - crop[0]
        b[:, 1::2] = r * b[:, 1::2] + paste[1] - crop[1]
        boxes.append(b)
        labels.append(p["gt_labels"])
    boxes, labels = np.concatenate(boxes), np.concatenate(labels)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, 2 * s_w)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, 2 * s_h)
    inside = (
        (boxes[:, 0] < 2 * s_w) & (boxes[:, 2] > 0) & (boxes[:, 1] < 2 * s_h) & (boxes[:, 3] > 0)
    )
    return canvas, boxes[inside], labels[inside]


def test_mosaic_seeded_equivalence_masks_and_seg():
    for seed in range(4):
        for poly in (False, True):
            samples = [
                random_results(seed * 4 + i, h=40 + 8 * i, w=64 - 4 * i, poly=poly)
                for i in range(4)
            ]
            t = Mosaic(img_scale=(32, 48))
            results = copy_results(samples[0])
            results["mix_results"] = [copy_results(s) for s in samples[1:]]
            np.random.seed(seed)
            assert not np.random.uniform(0, 1) > 1.0
            cx = int(np.random.uniform(0.5, 1.5) * 48)
            cy = int(np.random.uniform(0.5, 1.5) * 32)
            ref_img, ref_boxes, ref_labels = _mmdet_mosaic_boxes(t, samples, cx, cy)
            np.random.seed(seed)
            out = t(results)
            np.testing.assert_array_equal(out["img"], ref_img)
            np.testing.assert_allclose(out["gt_bboxes"], ref_boxes, rtol=1e-6)
            np.testing.assert_array_equal(out["gt_labels"], ref_labels)
            assert out["img_shape"] == (64, 96, 3) and out["gt_semantic_seg"].shape == (64, 96)
            _mask_boxes_agree(out, atol=2.0)  # nearest-resized rectangles vs scaled boxes
    with pytest.raises(KeyError, match="mix_results"):
        Mosaic()(random_results(0))


def test_mixup_seeded_equivalence_and_masks():
    for seed in range(6):
        dst, src = random_results(seed, h=48, w=64), random_results(seed + 50, h=40, w=56)
        t = MixUp(img_scale=(48, 64), ratio_range=(0.8, 1.6))
        np.random.seed(seed)
        # mmdet v2.28 MixUp._mixup_transform, re-stated for image and boxes
        jit = np.random.uniform(0.8, 1.6)
        flip = np.random.uniform(0, 1) < 0.5  # v2.28.2 (earlier 2.x: >)
        out_img = np.ones((48, 64, 3), np.uint8) * 114
        r = min(48 / 40, 64 / 56)
        fit = cv2.resize(src["img"], (int(56 * r), int(40 * r)))
        out_img[: fit.shape[0], : fit.shape[1]] = fit
        r *= jit
        out_img = cv2.resize(out_img, (int(64 * jit), int(48 * jit)))
        if flip:
            out_img = out_img[:, ::-1, :]
        oh, ow = out_img.shape[:2]
        padded = np.zeros((max(oh, 48), max(ow, 64), 3), np.uint8)
        padded[:oh, :ow] = out_img
        y_off = np.random.randint(0, padded.shape[0] - 48) if padded.shape[0] > 48 else 0
        x_off = np.random.randint(0, padded.shape[1] - 64) if padded.shape[1] > 64 else 0
        crop = padded[y_off : y_off + 48, x_off : x_off + 64]
        b = src["gt_bboxes"].copy() * r
        b[:, 0::2] = b[:, 0::2].clip(0, ow)
        b[:, 1::2] = b[:, 1::2].clip(0, oh)
        if flip:
            b[:, 0::2] = ow - b[:, 0::2][:, ::-1]
        b[:, 0::2] = (b[:, 0::2] - x_off).clip(0, 64)
        b[:, 1::2] = (b[:, 1::2] - y_off).clip(0, 48)
        ref_boxes = np.concatenate([dst["gt_bboxes"], b])
        inside = (
            (ref_boxes[:, 0] < 64)
            & (ref_boxes[:, 2] > 0)
            & (ref_boxes[:, 1] < 48)
            & (ref_boxes[:, 3] > 0)
        )
        ref_img = (0.5 * dst["img"].astype(np.float32) + 0.5 * crop.astype(np.float32)).astype(
            np.uint8
        )
        results = copy_results(dst)
        results["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        out = t(results)
        np.testing.assert_array_equal(out["img"], ref_img)
        np.testing.assert_allclose(out["gt_bboxes"], ref_boxes[inside], rtol=1e-6)
        np.testing.assert_array_equal(
            out["gt_labels"], np.concatenate([dst["gt_labels"], src["gt_labels"]])[inside]
        )
        _mask_boxes_agree(out, atol=2.5)  # two nearest-neighbour resizes of the masks


def _mmdet_copy_paste(dst, src, inds, bbox_thr=10, mask_thr=300):
    """mmdet v2.28 CopyPaste._copy_paste (after _select_object)."""
    sb, sl, sm = src["gt_bboxes"][inds], src["gt_labels"][inds], src["gt_masks"].masks[inds]
    composed = np.where(np.any(sm, axis=0), 1, 0)
    updated = np.where(composed, 0, dst["gt_masks"].masks)
    ub = BitmapMasks(updated, *updated.shape[1:]).get_bboxes()
    valid = np.all(np.abs(ub - dst["gt_bboxes"]) <= bbox_thr, axis=-1) | (
        updated.sum(axis=(1, 2)) > mask_thr
    )
    img = dst["img"] * (1 - composed[..., None]) + src["img"] * composed[..., None]
    return (
        img,
        np.concatenate([ub[valid], sb]),
        np.concatenate([dst["gt_labels"][valid], sl]),
        np.concatenate([updated[valid], sm]),
    )


def test_copy_paste_seeded_equivalence():
    for seed in range(8):
        dst, src = random_results(seed, n=8), random_results(seed + 100, n=8)
        np.random.seed(seed)
        n = len(src["gt_bboxes"])
        inds = np.random.choice(n, size=np.random.randint(0, min(n + 1, 100)), replace=False)
        ref_img, ref_boxes, ref_labels, ref_masks = _mmdet_copy_paste(dst, src, inds, 10, 10)
        results = copy_results(dst)
        results["mix_results"] = [copy_results(src)]
        np.random.seed(seed)
        out = CopyPaste(mask_occluded_thr=10)(results)
        if len(inds) == 0:
            np.testing.assert_array_equal(out["img"], dst["img"])
            continue
        assert out["img"].dtype == np.uint8  # mmdet: int64 of the same values
        np.testing.assert_array_equal(out["img"], ref_img)
        np.testing.assert_array_equal(out["gt_bboxes"], ref_boxes)
        np.testing.assert_array_equal(out["gt_labels"], ref_labels)
        np.testing.assert_array_equal(out["gt_masks"].masks, ref_masks)


def test_copy_paste_toy_occlusion_and_polygons():
    dst = random_results(0, n=1, poly=True)
    src = copy_results(dst)  # pasting the same object on itself occludes it completely
    results = copy_results(dst)
    results["mix_results"] = [src]
    out = CopyPaste(selected=False)(results)
    assert (
        isinstance(out["gt_masks"], BitmapMasks) and len(out["gt_bboxes"]) == 1
    )  # the old one is dropped
    np.testing.assert_array_equal(out["gt_bboxes"], dst["gt_bboxes"])


def test_multi_image_mix_dataset_pipeline_skip_and_errors():
    samples = [random_results(i, n=4) for i in range(5)]
    dataset = MultiImageMixDataset(
        ListDataset(samples),
        [
            dict(type="Mosaic", img_scale=(24, 32)),
            dict(type="CopyPaste"),
            dict(type="RandomFlip", flip_ratio=0.0),
        ],
        skip_type_keys=None,
    )
    np.random.seed(0)
    item = dataset[1]
    assert item["img"].shape == (48, 64, 3) and "mix_results" not in item
    _mask_boxes_agree(item, atol=2.0)
    dataset.update_skip_type_keys(["Mosaic", "CopyPaste"])
    item = dataset[2]
    np.testing.assert_array_equal(item["img"], samples[2]["img"])
    assert len(dataset) == 5 and dataset.get_ann_info(3)["bboxes"].shape == (4, 4)
    with pytest.raises(RuntimeError, match="dynamic_scale"):
        MultiImageMixDataset(ListDataset(samples), [], dynamic_scale=(10, 10))
    with pytest.raises(TypeError, match="skip_type_keys"):
        dataset.update_skip_type_keys([1])
    never = MultiImageMixDataset(ListDataset(samples), [lambda r: None], max_refetch=2)
    with pytest.raises(RuntimeError, match="returned None 2 times"):
        never[0]


def test_yolox_mode_switch_hook_skips_through_the_wrappers():
    from types import SimpleNamespace

    from torch.utils.data import DataLoader

    from detkit.data.datasets import RepeatDataset
    from detkit.engine.hooks import YOLOXModeSwitchHook

    mix = MultiImageMixDataset(
        ListDataset([random_results(i) for i in range(2)]),
        [dict(type="Mosaic", img_scale=(16, 16))],
    )
    loader = DataLoader(RepeatDataset(mix, 2), batch_size=1, collate_fn=lambda batch: batch)
    hook = YOLOXModeSwitchHook(num_last_epochs=2, skip_type_keys=["Mosaic"])
    runner = SimpleNamespace(
        mode="train", epoch=0, max_epochs=5, data_loader=loader, model=torch.nn.Linear(1, 1)
    )
    hook.before_epoch(runner)
    assert mix._skip_type_keys is None and mix[0]["img"].shape == (
        32,
        32,
        3,
    )  # mosaic of 16x16 quarters
    runner.epoch = 2  # mmdet: (epoch + 1) == max_epochs - num_last_epochs
    hook.before_epoch(runner)
    assert mix._skip_type_keys == ["Mosaic"] and mix[0]["img"].shape == (48, 64, 3)


def _id_painted_samples(count, poly):
    """48x64 samples with 3 disjoint rectangles each; every rectangle's pixels are painted with
    its own label (unique over the samples; Mosaic may draw a sample twice), the background is 0."""
    samples = []
    for s in range(count):
        img = np.zeros((48, 64, 3), np.uint8)
        boxes = np.array([[4, 4, 26, 20], [34, 6, 60, 22], [10, 28, 44, 44]], np.float32) + s % 3
        labels = np.arange(3, dtype=np.int64) + 3 * s + 1
        for (a, b, c, d), label in zip(boxes.astype(int), labels):
            img[b:d, a:c] = label
        if poly:
            masks = PolygonMasks(
                [[np.array([a, b, c, b, c, d, a, d], np.float64)] for a, b, c, d in boxes], 48, 64
            )
        else:
            bitmaps = np.zeros((3, 48, 64), np.uint8)
            for k, (a, b, c, d) in enumerate(boxes.astype(int)):
                bitmaps[k, b:d, a:c] = 1
            masks = BitmapMasks(bitmaps, 48, 64)
        samples.append(
            dict(
                img=img,
                img_shape=img.shape,
                img_fields=["img"],
                bbox_fields=["gt_bboxes"],
                gt_bboxes=boxes,
                gt_labels=labels,
                mask_fields=["gt_masks"],
                gt_masks=masks,
            )
        )
    return samples


@pytest.mark.parametrize("poly", [False, True])
@pytest.mark.parametrize(
    "affine",
    [dict(), dict(max_rotate_degree=0.0, max_shear_degree=0.0)],
    ids=["yolox-defaults", "axis-aligned"],
)
def test_random_affine_with_yolox_border_after_mosaic(poly, affine):
    """YOLOX's v2 recipe in MultiImageMixDataset: Mosaic(img_scale) then RandomAffine(
    scaling_ratio_range=(0.1, 2), border=(-img_scale[0] // 2, -img_scale[1] // 2)). mmdet v2.28:
    the (2h, 2w) mosaic is warped into ``img.shape + 2 * border`` (Python's floor division:
    an odd 25 gives border -13, output 50 - 26 = 24 rows). Boxes stay inside the output, every
    mask lies inside its box (and matches it without rotation or shear), and the image
    under each eroded mask is painted with that instance's label: image, boxes, masks and labels
    moved together."""
    img_scale = (25, 32)
    dataset = MultiImageMixDataset(
        ListDataset(_id_painted_samples(5, poly)),
        [
            dict(type="Mosaic", img_scale=img_scale, pad_val=114.0),
            dict(
                type="RandomAffine",
                scaling_ratio_range=(0.1, 2),
                border=(-img_scale[0] // 2, -img_scale[1] // 2),
                **affine,
            ),
        ],
    )
    checked = 0
    for seed in range(12):
        np.random.seed(seed)
        item = dataset[seed % 5]
        assert item["img"].shape == (24, 32, 3) and tuple(item["img_shape"][:2]) == (24, 32)
        masks = item["gt_masks"].to_bitmap() if poly else item["gt_masks"]
        assert isinstance(item["gt_masks"], PolygonMasks if poly else BitmapMasks)
        assert masks.masks.shape == (len(item["gt_bboxes"]), 24, 32) and len(
            item["gt_labels"]
        ) == len(masks)
        boxes = item["gt_bboxes"]
        assert boxes.dtype == np.float32 and set(item["gt_labels"].tolist()) <= set(range(1, 16))
        assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= 32).all()
        assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= 24).all()
        assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
        nonempty = masks.masks.any(axis=(1, 2))
        mask_boxes = masks.get_bboxes()
        assert (mask_boxes[nonempty, :2] >= boxes[nonempty, :2] - 1).all()
        assert (mask_boxes[nonempty, 2:] <= boxes[nonempty, 2:] + 1).all()
        if affine:  # no rotation or shear: the warped box is the mask's box
            _mask_boxes_agree(item, atol=2.0)
        for mask, label in zip(masks.masks, item["gt_labels"]):
            inner = cv2.erode(
                mask,
                np.ones((3, 3), np.uint8),
                iterations=2,
                borderType=cv2.BORDER_CONSTANT,
                borderValue=0,
            ).astype(bool)  # resampling blurs 2 px at the edges
            if inner.any():
                assert (item["img"][inner] == label).all()
                checked += 1
    assert checked >= 10
