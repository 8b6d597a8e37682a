"""``BitmapMasks``: instance masks of one image as an ``(N, H, W)`` uint8 array.

MMDetection v2 API (``mmdet.core.mask.BitmapMasks``). Geometric warps (rotate, translate,
shear) use bilinear interpolation on the 0/1 masks with a constant border, with OpenCV like
mmcv (see :mod:`detkit.structures.affine`); resize/rescale default to nearest. Empty mask sets
give empty ``(0, H', W')`` arrays of the target size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torchvision.ops import roi_align

from detkit.structures.affine import AffineParams, warp_hwc
from detkit.structures.mask_ops import (
    Rect,
    c_order,
    flip_stack,
    mask_rects,
    pad_stack,
    resize_stack,
    stack_c_order,
    warp_stack,
)

__all__ = ["BitmapMasks", "rescale_size"]


def rescale_size(old_size: tuple[int, int], scale: float | tuple[int, int]) -> tuple[int, int]:
    """mmcv ``rescale_size``: new ``(w, h)`` for ``old_size = (w, h)`` and a float factor or a
    ``(long, short)``-style scale tuple (longest edge <= max(scale), shortest <= min(scale))."""
    w, h = old_size
    if isinstance(scale, (float, int)) and not isinstance(scale, bool):
        if scale <= 0:
            raise ValueError(f"invalid scale {scale}, must be positive")
        factor = float(scale)
    elif isinstance(scale, (tuple, list)) and len(scale) == 2:
        max_long, max_short = max(scale), min(scale)
        factor = min(max_long / max(h, w), max_short / min(h, w))
    else:
        raise TypeError(f"scale must be a number or a tuple of two ints, got {scale!r}")
    return int(w * factor + 0.5), int(h * factor + 0.5)


class BitmapMasks:
    """Bitmap instance masks.

    Args:
        masks: ``(N, H, W)`` uint8 array (0/1), a list of ``(H, W)`` arrays, or an empty list.
            Stored C-contiguous (a column-major input is converted).
        height: image height H.
        width: image width W.

    The geometric operations remember, per mask, a rectangle holding its non-zero pixels
    (:mod:`detkit.structures.mask_ops`) and work only inside it; treat ``masks`` as
    read-only (build a new ``BitmapMasks`` after editing the array).
    """

    def __init__(
        self, masks: NDArray[Any] | Sequence[NDArray[Any]], height: int, width: int
    ) -> None:
        self.height = int(height)
        self.width = int(width)
        self._rects: list[Rect | None] | None = None
        if len(masks) == 0:
            self.masks: NDArray[Any] = np.empty((0, self.height, self.width), dtype=np.uint8)
            return
        if isinstance(masks, (list, tuple)):
            if not all(isinstance(m, np.ndarray) and m.ndim == 2 for m in masks):
                raise TypeError("BitmapMasks: a list of masks must hold 2-D numpy arrays")
            if len({m.shape for m in masks}) != 1:
                raise ValueError(
                    f"BitmapMasks: masks of different sizes {sorted({m.shape for m in masks})}"
                )
            array = stack_c_order(masks)
        elif isinstance(masks, np.ndarray):
            if masks.ndim != 3:
                raise ValueError(f"BitmapMasks: expected an (N, H, W) array, got {masks.shape}")
            array = masks
        else:
            raise TypeError(f"BitmapMasks: masks must be an ndarray or a list, got {type(masks)}")
        if array.shape[1:] != (self.height, self.width):
            raise ValueError(
                f"BitmapMasks: mask size {array.shape[1:]} does not match "
                f"(height, width) = {(self.height, self.width)}"
            )
        self.masks = c_order(array)

    @classmethod
    def _with_rects(
        cls, masks: NDArray[Any], height: int, width: int, rects: list[Rect | None] | None
    ) -> BitmapMasks:
        """Wrap a result stack together with its known rectangles."""
        out = cls(masks, height, width)
        out._rects = rects
        return out

    @property
    def rects(self) -> list[Rect | None]:
        """Per mask, a rectangle ``(x0, y0, x1, y1)`` (exclusive ends) holding its non-zero
        pixels (possibly loose), or None for an empty mask; computed once."""
        if self._rects is None:
            self._rects = mask_rects(self.masks)
        return self._rects

    # --- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: Any) -> BitmapMasks:
        """Index by int, list, int/bool ndarray or slice; always returns ``BitmapMasks``."""
        masks = self.masks[index].reshape(-1, self.height, self.width)
        rects = None
        if self._rects is not None:
            rects = [self._rects[i] for i in np.arange(len(self))[index].reshape(-1)]
        return BitmapMasks._with_rects(masks, self.height, self.width, rects)

    def __iter__(self) -> Iterator[NDArray[Any]]:
        return iter(self.masks)

    def __repr__(self) -> str:
        return f"BitmapMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BitmapMasks)
            and (self.height, self.width) == (other.height, other.width)
            and np.array_equal(self.masks, other.masks)
        )

    # --- conversions --------------------------------------------------------------------
    @property
    def areas(self) -> NDArray[Any]:
        """Pixel count per mask, ``[N]``."""
        areas: NDArray[Any] = self.masks.sum((1, 2))
        return areas

    def to_ndarray(self) -> NDArray[Any]:
        """The ``(N, H, W)`` uint8 array."""
        return self.masks

    def to_tensor(self, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """``(N, H, W)`` tensor of ``dtype`` on ``device``."""
        return torch.tensor(self.masks, dtype=dtype, device=device)

    def get_bboxes(self) -> NDArray[Any]:
        """Tight xyxy boxes ``[N, 4]`` float32 (``x2 = last column + 1``); empty masks give
        zeros."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        # reductions over one axis of the [N, H, W] array: arrays, never a scalar
        x_any = cast(NDArray[np.bool_], self.masks.any(axis=1))
        y_any = cast(NDArray[np.bool_], self.masks.any(axis=2))
        for idx in range(len(self)):
            xs = np.flatnonzero(x_any[idx])
            ys = np.flatnonzero(y_any[idx])
            if len(xs) and len(ys):
                boxes[idx] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
        return boxes

    # --- size changes -------------------------------------------------------------------
    def rescale(
        self, scale: float | tuple[int, int], interpolation: str = "nearest"
    ) -> BitmapMasks:
        """Resize keeping the aspect ratio (mmcv ``imrescale`` size rule)."""
        new_w, new_h = rescale_size((self.width, self.height), scale)
        return self.resize((new_h, new_w), interpolation)

    def resize(self, out_shape: tuple[int, int], interpolation: str = "nearest") -> BitmapMasks:
        """Resize to ``out_shape = (h, w)``."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks([], out_h, out_w)
        resized, rects = resize_stack(self.masks, (out_h, out_w), interpolation, self.rects)
        return BitmapMasks._with_rects(resized, out_h, out_w, rects)

    def flip(self, flip_direction: str = "horizontal") -> BitmapMasks:
        """Flip ``'horizontal'``, ``'vertical'`` or ``'diagonal'``."""
        flipped, rects = flip_stack(self.masks, flip_direction, self.rects)
        return BitmapMasks._with_rects(flipped, self.height, self.width, rects)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> BitmapMasks:
        """Pad at the bottom and right to ``out_shape = (h, w)``."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if out_h < self.height or out_w < self.width:
            raise ValueError(f"pad shape {out_shape} is smaller than {(self.height, self.width)}")
        if (out_h, out_w) == (self.height, self.width):
            return BitmapMasks._with_rects(self.masks.copy(), out_h, out_w, self._rects)
        if pad_val != 0:
            return BitmapMasks(pad_stack(self.masks, (out_h, out_w), pad_val, []), out_h, out_w)
        padded = pad_stack(self.masks, (out_h, out_w), 0, self.rects)
        return BitmapMasks._with_rects(padded, out_h, out_w, self._rects)

    def crop(self, bbox: NDArray[Any]) -> BitmapMasks:
        """Crop to integer xyxy ``bbox`` (clipped to the image, at least 1x1)."""
        bbox = np.asarray(bbox).copy()
        if bbox.ndim != 1 or bbox.shape[0] != 4:
            raise ValueError(f"crop bbox must have shape (4,), got {bbox.shape}")
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = (int(v) for v in bbox)
        w, h = max(x2 - x1, 1), max(y2 - y1, 1)
        if len(self) == 0:
            return BitmapMasks([], h, w)
        return BitmapMasks(self.masks[:, y1 : y1 + h, x1 : x1 + w], h, w)

    def crop_and_resize(
        self,
        bboxes: NDArray[Any] | torch.Tensor,
        out_shape: tuple[int, int],
        inds: NDArray[Any] | torch.Tensor,
        device: torch.device | str = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> BitmapMasks:
        """Crop mask ``inds[i]`` to ``bboxes[i]`` (xyxy, ``[K, 4]``) and resize to ``out_shape``
        with RoIAlign (aligned=True, spatial scale 1, adaptive sampling); binarised with
        ``>= 0.5`` unless ``binarize=False`` (then float32 values in [0, 1])."""
        if interpolation != "bilinear":
            raise ValueError(f"crop_and_resize supports only 'bilinear', got {interpolation!r}")
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0 or len(bboxes) == 0:
            return BitmapMasks([], out_h, out_w)
        boxes = torch.as_tensor(bboxes, device=device)
        if not boxes.is_floating_point():
            boxes = boxes.float()
        index = torch.as_tensor(inds, device=device).long()
        batch_idx = torch.arange(len(boxes), device=device, dtype=boxes.dtype)[:, None]
        rois = torch.cat([batch_idx, boxes], dim=1)
        masks = torch.from_numpy(self.masks).to(device).index_select(0, index).to(boxes.dtype)
        targets = roi_align(masks[:, None], rois, (out_h, out_w), 1.0, 0, True).squeeze(1)
        result = (targets >= 0.5).to(torch.uint8) if binarize else targets
        return BitmapMasks(result.cpu().numpy(), out_h, out_w)

    def expand(self, expanded_h: int, expanded_w: int, top: int, left: int) -> BitmapMasks:
        """Place the masks at ``(top, left)`` inside a zero canvas ``expanded_h x expanded_w``."""
        canvas = np.zeros((len(self), expanded_h, expanded_w), dtype=np.uint8)
        canvas[:, top : top + self.height, left : left + self.width] = self.masks
        return BitmapMasks(canvas, expanded_h, expanded_w)

    # --- affine warps -------------------------------------------------------------------
    def _warp(
        self, out_shape: tuple[int, int], fill_val: float, params: AffineParams, interpolation: str
    ) -> BitmapMasks:
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks([], out_h, out_w)
        if (out_h, out_w) != (self.height, self.width):
            raise ValueError(
                f"warps keep the mask size {(self.height, self.width)}, got out_shape {out_shape}"
            )
        if fill_val != 0:
            warped = np.stack([warp_hwc(m, params, fill_val, interpolation) for m in self.masks])
            return BitmapMasks(warped, out_h, out_w)
        matrix = params.matrix(self.height, self.width)
        warped, rects = warp_stack(self.masks, matrix, interpolation, self.rects)
        return BitmapMasks._with_rects(warped, out_h, out_w, rects)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        fill_val: float = 0,
        interpolation: str = "bilinear",
    ) -> BitmapMasks:
        """Shift by ``offset`` pixels right (``'horizontal'``) or down (``'vertical'``)."""
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"translate direction must be horizontal/vertical, got {direction!r}")
        translate = (offset, 0.0) if direction == "horizontal" else (0.0, offset)
        return self._warp(out_shape, fill_val, AffineParams(translate=translate), interpolation)

    def shear(
        self,
        out_shape: tuple[int, int],
        magnitude: float,
        direction: str = "horizontal",
        border_value: float = 0,
        interpolation: str = "bilinear",
    ) -> BitmapMasks:
        """Shear about pixel (0, 0): ``x += m * y`` (horizontal) or ``y += m * x``."""
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"shear direction must be horizontal/vertical, got {direction!r}")
        shear = (magnitude, 0.0) if direction == "horizontal" else (0.0, magnitude)
        return self._warp(out_shape, border_value, AffineParams(shear=shear), interpolation)

    def rotate(
        self,
        out_shape: tuple[int, int],
        angle: float,
        center: tuple[float, float] | None = None,
        scale: float = 1.0,
        fill_val: float = 0,
    ) -> BitmapMasks:
        """Rotate ``angle`` degrees clockwise about ``center`` (default image centre
        ``((w-1)/2, (h-1)/2)``), bilinear."""
        params = AffineParams(angle=angle, center=center, scale=scale)
        return self._warp(out_shape, fill_val, params, "bilinear")
