"""MMDetection v2.28.2's ``Expand`` and ``MixUp`` (``mmdet/datasets/pipelines/transforms.py``)
and ``MultiImageMixDataset.__getitem__`` (``mmdet/datasets/dataset_wrappers.py``), re-stated
with mmcv replaced by OpenCV, in the order they draw from NumPy's global generator:

- ``Expand.__call__``: ``uniform(0, 1) > prob`` returns the input; else the ratio
  ``r = uniform(min, max)``, then ``left = int(uniform(0, w r - w))`` and
  ``top = int(uniform(0, h r - h))``.
- ``MixUp.get_indexes``: up to ``max_iters`` draws ``randint(0, len(dataset))`` until the image
  has boxes; ``MixUp.__call__``: nothing if the partner has no boxes, else the jitter
  ``uniform(*ratio_range)``, the flip ``uniform(0, 1) < flip_ratio`` (v2.28.2; earlier 2.x
  releases flipped on ``>``), then ``randint`` for the y and the x offset when the jittered
  image is taller / wider than this one.
- the wrapper calls ``get_indexes`` before each multi-image transform and deep-copies the
  partners.
"""

import collections.abc
import copy

import cv2
import numpy as np
from numpy import random


class MMDetExpand:
    def __init__(
        self, mean=(0, 0, 0), to_rgb=True, ratio_range=(1, 4), seg_ignore_label=None, prob=0.5
    ):
        self.mean = mean[::-1] if to_rgb else mean
        self.min_ratio, self.max_ratio = ratio_range
        self.seg_ignore_label = seg_ignore_label
        self.prob = prob

    def __call__(self, results):
        if random.uniform(0, 1) > self.prob:
            return results
        img = results["img"]
        h, w, c = img.shape
        ratio = random.uniform(self.min_ratio, self.max_ratio)
        expand_img = np.full((int(h * ratio), int(w * ratio), c), self.mean, dtype=img.dtype)
        left = int(random.uniform(0, w * ratio - w))
        top = int(random.uniform(0, h * ratio - h))
        expand_img[top : top + h, left : left + w] = img
        results["img"] = expand_img
        for key in results.get("bbox_fields", []):
            results[key] = results[key] + np.tile((left, top), 2).astype(results[key].dtype)
        for key in results.get("mask_fields", []):
            results[key] = results[key].expand(int(h * ratio), int(w * ratio), top, left)
        for key in results.get("seg_fields", []):
            seg = np.full(
                (int(h * ratio), int(w * ratio)), self.seg_ignore_label, dtype=results[key].dtype
            )
            seg[top : top + h, left : left + w] = results[key]
            results[key] = seg
        return results


class MMDetMixUp:
    def __init__(
        self,
        img_scale=(640, 640),
        ratio_range=(0.5, 1.5),
        flip_ratio=0.5,
        pad_val=114,
        max_iters=15,
        bbox_clip_border=True,
    ):
        self.dynamic_scale = img_scale
        self.ratio_range = ratio_range
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.max_iters = max_iters
        self.bbox_clip_border = bbox_clip_border

    def get_indexes(self, dataset):
        for _ in range(self.max_iters):
            index = random.randint(0, len(dataset))
            if len(dataset.get_ann_info(index)["bboxes"]) != 0:
                break
        return index

    def __call__(self, results):
        if results["mix_results"][0]["gt_bboxes"].shape[0] == 0:
            return results
        retrieve = results["mix_results"][0]
        retrieve_img = retrieve["img"]
        jit_factor = random.uniform(*self.ratio_range)
        is_flip = random.uniform(0, 1) < self.flip_ratio
        out_img = np.ones((*self.dynamic_scale, 3), dtype=retrieve_img.dtype) * self.pad_val
        scale_ratio = min(
            self.dynamic_scale[0] / retrieve_img.shape[0],
            self.dynamic_scale[1] / retrieve_img.shape[1],
        )
        retrieve_img = cv2.resize(
            retrieve_img,
            (int(retrieve_img.shape[1] * scale_ratio), int(retrieve_img.shape[0] * scale_ratio)),
        )
        out_img[: retrieve_img.shape[0], : retrieve_img.shape[1]] = retrieve_img
        scale_ratio *= jit_factor
        out_img = cv2.resize(
            out_img, (int(out_img.shape[1] * jit_factor), int(out_img.shape[0] * jit_factor))
        )
        if is_flip:
            out_img = out_img[:, ::-1, :]
        ori_img = results["img"]
        origin_h, origin_w = out_img.shape[:2]
        target_h, target_w = ori_img.shape[:2]
        padded = np.zeros((max(origin_h, target_h), max(origin_w, target_w), 3)).astype(np.uint8)
        padded[:origin_h, :origin_w] = out_img
        x_offset, y_offset = 0, 0
        if padded.shape[0] > target_h:
            y_offset = random.randint(0, padded.shape[0] - target_h)
        if padded.shape[1] > target_w:
            x_offset = random.randint(0, padded.shape[1] - target_w)
        cropped = padded[y_offset : y_offset + target_h, x_offset : x_offset + target_w]
        boxes = retrieve["gt_bboxes"]  # scaled in place, as mmdet does
        boxes[:, 0::2] = boxes[:, 0::2] * scale_ratio
        boxes[:, 1::2] = boxes[:, 1::2] * scale_ratio
        if self.bbox_clip_border:
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, origin_w)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, origin_h)
        if is_flip:
            boxes[:, 0::2] = origin_w - boxes[:, 0::2][:, ::-1]
        shifted = boxes.copy()
        shifted[:, 0::2] = shifted[:, 0::2] - x_offset
        shifted[:, 1::2] = shifted[:, 1::2] - y_offset
        if self.bbox_clip_border:
            shifted[:, 0::2] = np.clip(shifted[:, 0::2], 0, target_w)
            shifted[:, 1::2] = np.clip(shifted[:, 1::2], 0, target_h)
        mixup_img = 0.5 * ori_img.astype(np.float32) + 0.5 * cropped.astype(np.float32)
        all_boxes = np.concatenate((results["gt_bboxes"], shifted), axis=0)
        all_labels = np.concatenate((results["gt_labels"], retrieve["gt_labels"]), axis=0)
        inside = (
            (all_boxes[:, 0] < target_w)
            & (all_boxes[:, 2] > 0)
            & (all_boxes[:, 1] < target_h)
            & (all_boxes[:, 3] > 0)
        )
        results["img"] = mixup_img.astype(np.uint8)
        results["img_shape"] = mixup_img.shape
        results["gt_bboxes"] = all_boxes[inside]
        results["gt_labels"] = all_labels[inside]
        return results


def mmdet_mix_dataset_item(dataset, idx, pipeline):
    """``MultiImageMixDataset.__getitem__`` (no skipped types, loading never returns None)."""
    results = copy.deepcopy(dataset[idx])
    for transform in pipeline:
        if hasattr(transform, "get_indexes"):
            indexes = transform.get_indexes(dataset)
            if not isinstance(indexes, collections.abc.Sequence):
                indexes = [indexes]
            results["mix_results"] = [copy.deepcopy(dataset[i]) for i in indexes]
        results = transform(copy.deepcopy(results))
        results.pop("mix_results", None)
    return results
