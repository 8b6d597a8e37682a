"""``RandomCenterCropPad`` (MMDetection v2.28, CornerNet/CenterNet): crop around a random centre
and pad around it, in one canvas.

mmdet v2 refuses masks and seg maps here (``NotImplementedError``); detkit moves bitmap and
polygon masks (clipped to the pasted area) and seg maps (padding = 255, the ignore label) with
the image, and drops the masks of dropped boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.data.transforms.fields import BBOX2MASK, bbox_keys, seg_keys
from detkit.data.transforms.instance_ops import keep_rows, translate_masks
from detkit.registry import PIPELINES

__all__ = ["RandomCenterCropPad", "crop_and_paste"]

SEG_FILL = 255
_TEST_PAD_MODES = ("logical_or", "size_divisor")


def crop_and_paste(
    array: np.ndarray, center: tuple[int, int], size: tuple[int, int], fill: Sequence[float] | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cover ``array`` (``(H, W[, C])``) with a ``size = (h, w)`` canvas centred on
    ``center = (y, x)``; returns the canvas (``fill`` outside the array), ``border`` = the
    pasted area in the canvas ``[top, bottom, left, right]`` (float32) and ``patch`` = the
    copied area of the array ``[x0, y0, x1, y1]``."""
    cy, cx = center
    th, tw = size
    ih, iw = array.shape[:2]
    x0, x1 = max(0, cx - tw // 2), min(cx + tw // 2, iw)
    y0, y1 = max(0, cy - th // 2), min(cy + th // 2, ih)
    left, right, top, bottom = cx - x0, x1 - cx, cy - y0, y1 - cy
    ccy, ccx = th // 2, tw // 2
    canvas = np.empty((th, tw) + array.shape[2:], dtype=array.dtype)
    canvas[...] = np.asarray(fill, dtype=array.dtype)
    canvas[ccy - top : ccy + bottom, ccx - left : ccx + right] = array[y0:y1, x0:x1]
    border = np.array([ccy - top, ccy + bottom, ccx - left, ccx + right], dtype=np.float32)
    return canvas, border, np.array((int(x0), int(y0), int(x1), int(y1)))


@PIPELINES.register_module()
class RandomCenterCropPad:
    """Random centre crop with surrounding padding (train) or centred padding (test).

    Args:
        crop_size: ``(h, w)`` (train; None in test mode).
        ratios: the canvas is ``crop_size * ratio``, ratio drawn with ``random.choice`` (train).
        border: centres are drawn at least ``border // 2**k`` from the image sides (train).
        mean, std, to_rgb: as in ``Normalize`` (the canvas is filled with ``mean``, BGR order).
        test_mode: centred, size from ``test_pad_mode``.
        test_pad_mode: ``('logical_or', 127)`` (``side | 127``) or ``('size_divisor', d)``.
        test_pad_add_pix: extra pixels in test mode.
        bbox_clip_border: clip boxes to the canvas.

    The image must be float32 (``LoadImageFromFile(to_float32=True)``), as mmdet requires.
    Train draws: ``random.choice(ratios)``; up to 50 x (``randint(w_border, w - w_border)``,
    ``randint(h_border, h - h_border)``) until some box centre lies inside the crop (any crop
    when there are no boxes), else a new ratio. Boxes with their centre outside are dropped.
    """

    def __init__(
        self,
        crop_size: Sequence[int] | None = None,
        ratios: Sequence[float] | None = (0.9, 1.0, 1.1),
        border: int | None = 128,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        to_rgb: bool | None = None,
        test_mode: bool = False,
        test_pad_mode: Sequence[Any] | None = ("logical_or", 127),
        test_pad_add_pix: int = 0,
        bbox_clip_border: bool = True,
    ) -> None:
        name = "RandomCenterCropPad"
        if test_mode:
            if crop_size is not None or ratios is not None or border is not None:
                raise ValueError(f"{name}: crop_size, ratios and border must be None in test mode")
            if not (
                isinstance(test_pad_mode, (list, tuple)) and test_pad_mode[0] in _TEST_PAD_MODES
            ):
                raise ValueError(
                    f"{name}: test_pad_mode must be (mode, value) with mode in {_TEST_PAD_MODES}, "
                    f"got {test_pad_mode!r}"
                )
        else:
            if not (isinstance(crop_size, (list, tuple)) and crop_size[0] > 0 and crop_size[1] > 0):
                raise ValueError(
                    f"{name}: crop_size must be (h, w) > 0 in train mode, got {crop_size!r}"
                )
            if not isinstance(ratios, (list, tuple)):
                raise ValueError(f"{name}: ratios must be a tuple in train mode, got {ratios!r}")
            if test_pad_mode is not None:
                raise ValueError(
                    f"{name}: test_pad_mode must be None in train mode, got {test_pad_mode!r}"
                )
        if mean is None or std is None or to_rgb is None:
            raise ValueError(f"{name}: mean, std and to_rgb are required (use Normalize's values)")
        self.crop_size = crop_size
        self.ratios = ratios
        self.border = border
        self.input_mean, self.input_std, self.to_rgb = mean, std, to_rgb
        self.mean = tuple(mean[::-1]) if to_rgb else tuple(mean)
        self.std = tuple(std[::-1]) if to_rgb else tuple(std)
        self.test_mode = test_mode
        self.test_pad_mode = test_pad_mode
        self.test_pad_add_pix = test_pad_add_pix
        self.bbox_clip_border = bbox_clip_border

    @staticmethod
    def _get_border(border: int, size: int) -> int:
        k = 2 * border / size
        i = pow(2, np.ceil(np.log2(np.ceil(k))) + (k == int(k)))
        return int(border // i)

    @staticmethod
    def _centers_inside(patch: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        center = (boxes[:, :2] + boxes[:, 2:]) / 2
        return (
            (center[:, 0] > patch[0])
            & (center[:, 1] > patch[1])
            & (center[:, 0] < patch[2])
            & (center[:, 1] < patch[3])
        )

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results.get("img")
        if not (isinstance(img, np.ndarray) and img.dtype == np.float32 and img.ndim == 3):
            raise TypeError(
                "RandomCenterCropPad needs a float32 (H, W, C) image: set to_float32=True in "
                f"LoadImageFromFile (got {getattr(img, 'dtype', type(img).__name__)})"
            )
        if img.shape[2] != len(self.mean):
            raise ValueError(
                f"RandomCenterCropPad: image has {img.shape[2]} channels, mean has {len(self.mean)}"
            )
        return self._test_aug(results) if self.test_mode else self._train_aug(results)

    def _train_aug(self, results: dict[str, Any]) -> dict[str, Any]:
        h, w = results["img"].shape[:2]
        boxes = results.get("gt_bboxes", np.zeros((0, 4), np.float32))
        while True:
            scale = np.random.choice(self.ratios)
            new_h, new_w = int(self.crop_size[0] * scale), int(self.crop_size[1] * scale)
            h_border, w_border = self._get_border(self.border, h), self._get_border(self.border, w)
            for _ in range(50):
                cx = int(np.random.randint(low=w_border, high=w - w_border))
                cy = int(np.random.randint(low=h_border, high=h - h_border))
                ccx, ccy = new_w // 2, new_h // 2
                x0, y0 = max(0, cx - ccx), max(0, cy - ccy)
                patch = np.array((x0, y0, min(cx + ccx, w), min(cy + ccy, h)))
                if len(boxes) > 0 and not self._centers_inside(patch, boxes).any():
                    continue
                return self.apply(results, (cy, cx), (new_h, new_w))

    def apply(
        self, results: dict[str, Any], center: tuple[int, int], size: tuple[int, int]
    ) -> dict[str, Any]:
        """Train-mode crop-and-pad around ``center = (y, x)`` into ``size = (h, w)`` (no draw)."""
        new_h, new_w = size
        canvas, border, patch = crop_and_paste(results["img"], center, size, self.mean)
        results["img"] = canvas
        results["img_shape"] = canvas.shape
        results["pad_shape"] = canvas.shape
        dx, dy = new_w // 2 - center[1], new_h // 2 - center[0]
        region = (int(border[2]), int(border[0]), int(border[3]), int(border[1]))
        for key in bbox_keys(results):
            keep_rows(results, key, self._centers_inside(patch, results[key]))
            boxes = results[key].copy()
            boxes[:, 0:4:2] += dx
            boxes[:, 1:4:2] += dy
            if self.bbox_clip_border:
                boxes[:, 0:4:2] = np.clip(boxes[:, 0:4:2], 0, new_w)
                boxes[:, 1:4:2] = np.clip(boxes[:, 1:4:2], 0, new_h)
            results[key] = boxes
            mask_key = BBOX2MASK.get(key)
            if mask_key in results and results[mask_key] is not None:
                results[mask_key] = translate_masks(
                    results[mask_key], dx, dy, (new_h, new_w), region
                )
            keep_rows(results, key, (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
        for key in seg_keys(results):
            results[key] = crop_and_paste(results[key], center, size, SEG_FILL)[0]
        return results

    def _test_aug(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        h, w = img.shape[:2]
        results["img_shape"] = img.shape
        mode, value = self.test_pad_mode
        if mode == "logical_or":
            target_h, target_w = (
                (h | value) + self.test_pad_add_pix,
                (w | value) + self.test_pad_add_pix,
            )
        else:
            target_h, target_w = (
                int(math.ceil(h / value)) * value,
                int(math.ceil(w / value)) * value,
            )
        canvas, border, _ = crop_and_paste(img, (h // 2, w // 2), (target_h, target_w), self.mean)
        results["img"] = canvas
        results["pad_shape"] = canvas.shape
        results["border"] = border
        return results

    def __repr__(self) -> str:
        return (
            f"RandomCenterCropPad(crop_size={self.crop_size}, ratios={self.ratios}, "
            f"border={self.border}, "
            f"mean={self.input_mean}, std={self.input_std}, to_rgb={self.to_rgb}, "
            f"test_mode={self.test_mode}, test_pad_mode={self.test_pad_mode}, "
            f"bbox_clip_border={self.bbox_clip_border})"
        )
