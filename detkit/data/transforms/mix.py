"""Multi-image transforms ``Mosaic`` and ``MixUp`` (MMDetection v2.28 semantics and draws).

They read the other images from ``results['mix_results']``, which
:class:`~detkit.data.datasets.MultiImageMixDataset` fills using ``get_indexes(dataset)``.
mmdet v2 moves only boxes and labels here (its masks and seg maps are left stale); detkit
also moves bitmap and polygon masks (Mosaic, MixUp), ``gt_bboxes_ignore`` and seg maps
(Mosaic; canvas 255) with the images, and drops the masks of dropped boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from detkit.data.transforms.fields import BBOX2LABEL, BBOX2MASK, seg_keys
from detkit.data.transforms.instance_ops import (
    concat_masks,
    find_inside_boxes,
    keep_rows,
    translate_masks,
)
from detkit.registry import PIPELINES

__all__ = ["Mosaic", "MixUp"]

SEG_FILL = 255


def _check_mix(name: str, results: dict[str, Any], count: int) -> list[dict[str, Any]]:
    mix = results.get("mix_results")
    if not isinstance(mix, list) or len(mix) != count:
        raise KeyError(
            f"{name} needs results['mix_results'] with {count} sample(s) (wrap the dataset in "
            f"MultiImageMixDataset), got {type(mix).__name__}"
        )
    return mix


def _box_filter(
    before: np.ndarray,
    after: np.ndarray,
    min_size: float,
    min_area_ratio: float,
    max_aspect_ratio: float,
) -> np.ndarray:
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
    return (
        (w2 > min_size)
        & (h2 > min_size)
        & (w2 * h2 / (w1 * h1 + 1e-16) > min_area_ratio)
        & (aspect < max_aspect_ratio)
    )


@PIPELINES.register_module()
class Mosaic:
    """Four images around a random centre of a ``2h x 2w`` canvas (YOLOX).

    Args:
        img_scale: ``(h, w)`` of one quarter; each image is resized (keep ratio, bilinear) to fit.
        center_ratio_range: the centre is drawn in ``range * (w, h)``.
        min_bbox_size: box filter when not ``skip_filter``.
        bbox_clip_border: clip boxes to the canvas.
        skip_filter: skip the size filter.
        pad_val: canvas colour.
        prob: probability of applying.

    Draws: ``uniform(0, 1)`` (skip if ``> prob``), centre x then y with ``uniform``;
    ``get_indexes`` draws ``randint(0, len(dataset))`` three times.
    """

    def __init__(
        self,
        img_scale: Sequence[int] = (640, 640),
        center_ratio_range: Sequence[float] = (0.5, 1.5),
        min_bbox_size: float = 0,
        bbox_clip_border: bool = True,
        skip_filter: bool = True,
        pad_val: float = 114,
        prob: float = 1.0,
    ) -> None:
        if not isinstance(img_scale, tuple) or len(img_scale) != 2:
            raise TypeError(f"Mosaic: img_scale must be a tuple (h, w), got {img_scale!r}")
        if not 0 <= prob <= 1:
            raise ValueError(f"Mosaic: prob must be in [0, 1], got {prob!r}")
        self.img_scale = img_scale
        self.center_ratio_range = (center_ratio_range[0], center_ratio_range[1])
        self.min_bbox_size = min_bbox_size
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter
        self.pad_val = pad_val
        self.prob = prob

    def get_indexes(self, dataset: Any) -> list[int]:
        return [int(np.random.randint(0, len(dataset))) for _ in range(3)]

    def _combine(
        self, loc: str, cx: int, cy: int, w: int, h: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Paste rectangle in the canvas and crop rectangle of the resized ``w x h`` image."""
        s_h, s_w = self.img_scale
        if loc == "top_left":
            x1, y1, x2, y2 = max(cx - w, 0), max(cy - h, 0), cx, cy
            crop = (w - (x2 - x1), h - (y2 - y1), w, h)
        elif loc == "top_right":
            x1, y1, x2, y2 = cx, max(cy - h, 0), min(cx + w, s_w * 2), cy
            crop = (0, h - (y2 - y1), min(w, x2 - x1), h)
        elif loc == "bottom_left":
            x1, y1, x2, y2 = max(cx - w, 0), cy, cx, min(s_h * 2, cy + h)
            crop = (w - (x2 - x1), 0, w, min(y2 - y1, h))
        else:
            x1, y1, x2, y2 = cx, cy, min(cx + w, s_w * 2), min(s_h * 2, cy + h)
            crop = (0, 0, min(w, x2 - x1), min(y2 - y1, h))
        return (x1, y1, x2, y2), crop

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.uniform(0, 1) > self.prob:
            return results
        mix = _check_mix("Mosaic", results, 3)
        cx = int(np.random.uniform(*self.center_ratio_range) * self.img_scale[1])
        cy = int(np.random.uniform(*self.center_ratio_range) * self.img_scale[0])
        return self.apply(results, [results, *mix], cx, cy)

    def apply(
        self, results: dict[str, Any], patches: list[dict[str, Any]], cx: int, cy: int
    ) -> dict[str, Any]:
        """Combine the four ``patches`` around ``(cx, cy)`` into ``results`` (no random draw)."""
        s_h, s_w = self.img_scale
        out_h, out_w = int(s_h * 2), int(s_w * 2)
        img0 = results["img"]
        canvas = np.full((out_h, out_w) + img0.shape[2:], self.pad_val, dtype=img0.dtype)
        box_keys = [k for k in ("gt_bboxes", "gt_bboxes_ignore") if k in results]
        parts: dict[str, list[Any]] = {}
        segs = {
            key: np.full((out_h, out_w), SEG_FILL, results[key].dtype) for key in seg_keys(results)
        }
        for loc, patch in zip(("top_left", "top_right", "bottom_left", "bottom_right"), patches):
            h_i, w_i = patch["img"].shape[:2]
            scale = min(s_h / h_i, s_w / w_i)
            new_w, new_h = int(w_i * scale), int(h_i * scale)
            img_i = cv2.resize(patch["img"], (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            paste, crop = self._combine(loc, cx, cy, new_w, new_h)
            canvas[paste[1] : paste[3], paste[0] : paste[2]] = img_i[
                crop[1] : crop[3], crop[0] : crop[2]
            ]
            padw, padh = paste[0] - crop[0], paste[1] - crop[1]
            for key in box_keys:
                boxes = patch.get(key, np.zeros((0, 4), np.float32)).copy()
                if boxes.shape[0] > 0:
                    boxes[:, 0::2] = scale * boxes[:, 0::2] + padw
                    boxes[:, 1::2] = scale * boxes[:, 1::2] + padh
                parts.setdefault(key, []).append(boxes)
                for partner in (BBOX2LABEL[key], BBOX2MASK[key]):
                    if partner not in results or results[partner] is None:
                        continue
                    value = patch[partner]
                    if partner == BBOX2MASK[key]:
                        value = translate_masks(
                            value.resize((new_h, new_w)), padw, padh, (out_h, out_w), paste
                        )
                    parts.setdefault(partner, []).append(value)
            for seg_key, seg in segs.items():
                seg_i = cv2.resize(patch[seg_key], (new_w, new_h), interpolation=cv2.INTER_NEAREST)
                seg[paste[1] : paste[3], paste[0] : paste[2]] = seg_i[
                    crop[1] : crop[3], crop[0] : crop[2]
                ]
        results["img"] = canvas
        results["img_shape"] = canvas.shape
        results.update(segs)
        for key in box_keys:
            boxes = np.concatenate(parts[key], 0)
            if self.bbox_clip_border:
                boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, out_w)
                boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, out_h)
            results[key] = boxes
            if BBOX2LABEL[key] in parts:
                results[BBOX2LABEL[key]] = np.concatenate(parts[BBOX2LABEL[key]], 0)
            if BBOX2MASK[key] in parts:
                results[BBOX2MASK[key]] = concat_masks(parts[BBOX2MASK[key]], (out_h, out_w))
            if not self.skip_filter:
                keep_rows(
                    results,
                    key,
                    ((boxes[:, 2] - boxes[:, 0]) > self.min_bbox_size)
                    & ((boxes[:, 3] - boxes[:, 1]) > self.min_bbox_size),
                )
            keep_rows(results, key, find_inside_boxes(results[key], out_h, out_w))
        return results

    def __repr__(self) -> str:
        return (
            f"Mosaic(img_scale={self.img_scale}, center_ratio_range={self.center_ratio_range}, "
            f"pad_val={self.pad_val}, min_bbox_size={self.min_bbox_size}, "
            f"skip_filter={self.skip_filter}, prob={self.prob})"
        )


@PIPELINES.register_module()
class MixUp:
    """Blend (50/50) another image, resized, jittered, maybe flipped and cropped, into this one.

    Args:
        img_scale: ``(h, w)`` canvas the other image is fitted into first.
        ratio_range: scale jitter drawn in the range.
        flip_ratio: probability of flipping the other image (``uniform(0, 1) < flip_ratio``, as
            in mmdet v2.28.2; earlier 2.x releases flipped on ``>``).
        pad_val: canvas colour.
        max_iters: ``get_indexes`` tries to find an image with boxes.
        min_bbox_size, min_area_ratio, max_aspect_ratio: box filters when not ``skip_filter``.
        bbox_clip_border: clip boxes.
        skip_filter: skip the filters.

    Draws: nothing if the other image has no boxes; else ``uniform(*ratio_range)``,
    ``uniform(0, 1)`` (flip if below ``flip_ratio``), then ``randint`` y offset and x offset
    when the jittered image is larger than this one. ``get_indexes``: up to ``max_iters`` x
    ``randint(0, len(dataset))``.
    """

    def __init__(
        self,
        img_scale: Sequence[int] = (640, 640),
        ratio_range: Sequence[float] = (0.5, 1.5),
        flip_ratio: float = 0.5,
        pad_val: float = 114,
        max_iters: int = 15,
        min_bbox_size: float = 5,
        min_area_ratio: float = 0.2,
        max_aspect_ratio: float = 20,
        bbox_clip_border: bool = True,
        skip_filter: bool = True,
    ) -> None:
        if not isinstance(img_scale, tuple) or len(img_scale) != 2:
            raise TypeError(f"MixUp: img_scale must be a tuple (h, w), got {img_scale!r}")
        self.dynamic_scale = img_scale
        self.ratio_range = (ratio_range[0], ratio_range[1])
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.max_iters = max_iters
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.bbox_clip_border = bbox_clip_border
        self.skip_filter = skip_filter

    def get_indexes(self, dataset: Any) -> int:
        index = 0
        for _ in range(self.max_iters):
            index = int(np.random.randint(0, len(dataset)))
            if len(dataset.get_ann_info(index)["bboxes"]) != 0:
                break
        return index

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        (other,) = _check_mix("MixUp", results, 1)
        if other["gt_bboxes"].shape[0] == 0:
            return results
        jit = np.random.uniform(*self.ratio_range)
        flip = np.random.uniform(0, 1) < self.flip_ratio
        dyn_h, dyn_w = self.dynamic_scale
        origin_h, origin_w = int(dyn_h * jit), int(dyn_w * jit)
        target_h, target_w = results["img"].shape[:2]
        y_off = (
            int(np.random.randint(0, max(origin_h, target_h) - target_h))
            if origin_h > target_h
            else 0
        )
        x_off = (
            int(np.random.randint(0, max(origin_w, target_w) - target_w))
            if origin_w > target_w
            else 0
        )
        return self.apply(results, other, jit, flip, x_off, y_off)

    def apply(
        self,
        results: dict[str, Any],
        other: dict[str, Any],
        jit: float,
        flip: bool,
        x_off: int,
        y_off: int,
    ) -> dict[str, Any]:
        """Mix ``other`` in with the given jitter, flip and offsets (no random draw)."""
        dyn_h, dyn_w = self.dynamic_scale
        other_img = other["img"]
        out = np.full((dyn_h, dyn_w) + other_img.shape[2:], self.pad_val, dtype=other_img.dtype)
        scale = min(dyn_h / other_img.shape[0], dyn_w / other_img.shape[1])
        fit_hw = (int(other_img.shape[0] * scale), int(other_img.shape[1] * scale))
        out[: fit_hw[0], : fit_hw[1]] = cv2.resize(
            other_img, fit_hw[::-1], interpolation=cv2.INTER_LINEAR
        )
        scale *= jit
        out = cv2.resize(out, (int(dyn_w * jit), int(dyn_h * jit)), interpolation=cv2.INTER_LINEAR)
        if flip:
            out = out[:, ::-1]
        origin_h, origin_w = out.shape[:2]
        target_h, target_w = results["img"].shape[:2]
        padded_hw = (max(origin_h, target_h), max(origin_w, target_w))
        padded = np.zeros(padded_hw + out.shape[2:], dtype=np.uint8)
        padded[:origin_h, :origin_w] = out
        cropped = padded[y_off : y_off + target_h, x_off : x_off + target_w]

        boxes = other["gt_bboxes"].copy()
        boxes[:, 0::2] = boxes[:, 0::2] * scale
        boxes[:, 1::2] = boxes[:, 1::2] * scale
        if self.bbox_clip_border:
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, origin_w)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, origin_h)
        if flip:
            boxes[:, 0::2] = origin_w - boxes[:, 0::2][:, ::-1]
        shifted = boxes.copy()
        shifted[:, 0::2] -= x_off
        shifted[:, 1::2] -= y_off
        if self.bbox_clip_border:
            shifted[:, 0::2] = np.clip(shifted[:, 0::2], 0, target_w)
            shifted[:, 1::2] = np.clip(shifted[:, 1::2], 0, target_h)
        mixed = 0.5 * results["img"].astype(np.float32) + 0.5 * cropped.astype(np.float32)

        added = {"gt_bboxes": shifted, "gt_labels": other["gt_labels"]}
        if results.get("gt_masks") is not None and other.get("gt_masks") is not None:
            masks = (
                other["gt_masks"].resize(fit_hw).pad((dyn_h, dyn_w)).resize((origin_h, origin_w))
            )
            if flip:
                masks = masks.flip("horizontal")
            masks = masks.pad(padded_hw).crop(
                np.array([x_off, y_off, x_off + target_w, y_off + target_h])
            )
            added["gt_masks"] = masks
        if not self.skip_filter:
            keep = _box_filter(
                boxes, shifted, self.min_bbox_size, self.min_area_ratio, self.max_aspect_ratio
            )
            added = {k: v[np.flatnonzero(keep)] for k, v in added.items()}
        results["img"] = mixed.astype(np.uint8)
        results["img_shape"] = mixed.shape
        results["gt_bboxes"] = np.concatenate((results["gt_bboxes"], added["gt_bboxes"]), 0)
        results["gt_labels"] = np.concatenate((results["gt_labels"], added["gt_labels"]), 0)
        if "gt_masks" in added:
            results["gt_masks"] = concat_masks(
                [results["gt_masks"], added["gt_masks"]], (target_h, target_w)
            )
        keep_rows(results, "gt_bboxes", find_inside_boxes(results["gt_bboxes"], target_h, target_w))
        return results

    def __repr__(self) -> str:
        return (
            f"MixUp(dynamic_scale={self.dynamic_scale}, ratio_range={self.ratio_range}, "
            f"flip_ratio={self.flip_ratio}, pad_val={self.pad_val}, max_iters={self.max_iters}, "
            f"min_bbox_size={self.min_bbox_size}, min_area_ratio={self.min_area_ratio}, "
            f"max_aspect_ratio={self.max_aspect_ratio}, skip_filter={self.skip_filter})"
        )
