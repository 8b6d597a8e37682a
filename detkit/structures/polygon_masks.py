"""``PolygonMasks``: instance masks of one image as polygons.

MMDetection v2 API (``mmdet.core.mask.PolygonMasks``). Each instance is a list of flat float
arrays ``[x0, y0, x1, y1, ...]`` in pixel-index coordinates (the same frame as the image warps
of :mod:`detkit.structures.affine`); rasterisation uses pycocotools. Rotation uses the same
matrix and centre as the image (MMDetection issue #11758 is not copied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import torch
from numpy.typing import NDArray

from detkit.structures.affine import (
    apply_matrix_to_points,
    rotation_matrix,
    shear_matrix,
)
from detkit.structures.bitmap_masks import BitmapMasks, rescale_size

__all__ = ["PolygonMasks", "polygon_to_bitmap"]

Polygons = list[list[NDArray[Any]]]


def polygon_to_bitmap(polygons: Sequence[NDArray[Any]], height: int, width: int) -> NDArray[Any]:
    """Union of the polygons of one instance rasterised to an ``(H, W)`` uint8 mask."""
    if len(polygons) == 0:
        return np.zeros((height, width), dtype=np.uint8)
    rles = mask_utils.frPyObjects(
        [np.asarray(p, dtype=np.float64) for p in polygons], height, width
    )
    bitmap: NDArray[Any] = mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
    return bitmap


def _polygon_area(poly: NDArray[Any]) -> float:
    """Shoelace area of one flat polygon."""
    x, y = poly[0::2], poly[1::2]
    return 0.5 * float(np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


class PolygonMasks:
    """Polygon instance masks.

    Args:
        masks: ``masks[i]`` is the list of polygons (flat float arrays ``[x0, y0, ...]``,
            pixel-index coordinates) of instance ``i``; may be empty.
        height: image height H.
        width: image width W.
    """

    def __init__(self, masks: Polygons, height: int, width: int) -> None:
        if not isinstance(masks, list):
            raise TypeError(f"PolygonMasks: masks must be a list of lists, got {type(masks)}")
        if masks:
            if not isinstance(masks[0], list):
                raise TypeError("PolygonMasks: each instance must be a list of polygons")
            if masks[0] and not isinstance(masks[0][0], np.ndarray):
                raise TypeError("PolygonMasks: each polygon must be a numpy array")
        self.height = int(height)
        self.width = int(width)
        self.masks = masks

    # --- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: Any) -> PolygonMasks:
        """Index as mmdet does: a list of ints, an int or bool ndarray, or anything a Python
        list accepts (int, slice, 0-d integer tensor); always returns ``PolygonMasks``.

        Raises:
            ValueError: any other index (e.g. a 1-d tensor: convert it with ``.tolist()``
                or ``.numpy()``), as mmdet; the message names its type.
        """
        if isinstance(index, np.ndarray):
            index = np.flatnonzero(index).tolist() if index.dtype == bool else index.tolist()
        if isinstance(index, list):
            masks = [self.masks[i] for i in index]
        else:
            try:
                masks = self.masks[index]
            except Exception as exc:
                raise ValueError(
                    f"PolygonMasks: unsupported input of type {type(index)} for "
                    f"indexing (use an int, a slice, a list or a numpy array)"
                ) from exc
        if len(masks) and isinstance(masks[0], np.ndarray):
            masks = [masks]  # one instance: keep the three-level list
        return PolygonMasks(masks, self.height, self.width)

    def __iter__(self) -> Iterator[list[NDArray[Any]]]:
        return iter(self.masks)

    def __repr__(self) -> str:
        return f"PolygonMasks(num_masks={len(self)}, height={self.height}, width={self.width})"

    def _map(
        self, fn: Callable[[NDArray[Any]], NDArray[Any]], height: int, width: int
    ) -> PolygonMasks:
        """New masks with ``fn`` applied to a float copy of every polygon."""
        masks = [[fn(np.array(p, dtype=np.float64)) for p in obj] for obj in self.masks]
        return PolygonMasks(masks, height, width)

    # --- conversions --------------------------------------------------------------------
    @property
    def areas(self) -> NDArray[Any]:
        """Sum of the shoelace areas of each instance's polygons, ``[N]`` float64."""
        return np.array([sum(_polygon_area(p) for p in obj) for obj in self.masks], np.float64)

    def to_ndarray(self) -> NDArray[Any]:
        """Rasterised ``(N, H, W)`` uint8 array."""
        if len(self) == 0:
            return np.empty((0, self.height, self.width), dtype=np.uint8)
        return np.stack([polygon_to_bitmap(obj, self.height, self.width) for obj in self.masks])

    def to_bitmap(self) -> BitmapMasks:
        """Rasterised :class:`BitmapMasks`."""
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def to_tensor(self, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """Rasterised ``(N, H, W)`` tensor of ``dtype`` on ``device``."""
        return torch.tensor(self.to_ndarray(), dtype=dtype, device=device)

    def get_bboxes(self) -> NDArray[Any]:
        """xyxy hull of every instance's vertices, ``[N, 4]`` float32."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        for idx, obj in enumerate(self.masks):
            if obj:
                xy = np.concatenate([np.asarray(p, dtype=np.float64) for p in obj]).reshape(-1, 2)
                boxes[idx] = (*xy.min(axis=0), *xy.max(axis=0))
        return boxes

    # --- size changes -------------------------------------------------------------------
    def rescale(
        self, scale: float | tuple[int, int], interpolation: str | None = None
    ) -> PolygonMasks:
        """Scale keeping the aspect ratio (mmcv ``rescale_size`` rule)."""
        new_w, new_h = rescale_size((self.width, self.height), scale)
        return self.resize((new_h, new_w))

    def resize(self, out_shape: tuple[int, int], interpolation: str | None = None) -> PolygonMasks:
        """Scale coordinates to ``out_shape = (h, w)``."""
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        w_scale, h_scale = out_w / self.width, out_h / self.height

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            p[0::2] *= w_scale
            p[1::2] *= h_scale
            return p

        return self._map(fn, out_h, out_w)

    def flip(self, flip_direction: str = "horizontal") -> PolygonMasks:
        """Flip ``'horizontal'`` (``x' = w - x``), ``'vertical'`` or ``'diagonal'``."""
        if flip_direction not in ("horizontal", "vertical", "diagonal"):
            raise ValueError(f"unknown flip direction {flip_direction!r}")
        flip_x = flip_direction in ("horizontal", "diagonal")
        flip_y = flip_direction in ("vertical", "diagonal")

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            if flip_x:
                p[0::2] = self.width - p[0::2]
            if flip_y:
                p[1::2] = self.height - p[1::2]
            return p

        return self._map(fn, self.height, self.width)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> PolygonMasks:
        """Padding at the bottom/right only changes the nominal size."""
        return PolygonMasks(self.masks, int(out_shape[0]), int(out_shape[1]))

    def crop(self, bbox: NDArray[Any]) -> PolygonMasks:
        """Shift into the frame of integer xyxy ``bbox`` (clipped, at least 1x1); vertices
        outside are left for the rasteriser to clip."""
        bbox = np.asarray(bbox).copy()
        if bbox.ndim != 1 or bbox.shape[0] != 4:
            raise ValueError(f"crop bbox must have shape (4,), got {bbox.shape}")
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = (float(v) for v in bbox)
        w, h = int(max(x2 - x1, 1)), int(max(y2 - y1, 1))

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            p[0::2] -= x1
            p[1::2] -= y1
            return p

        return self._map(fn, h, w)

    def crop_and_resize(
        self,
        bboxes: NDArray[Any] | torch.Tensor,
        out_shape: tuple[int, int],
        inds: NDArray[Any] | torch.Tensor,
        device: torch.device | str = "cpu",
        interpolation: str = "bilinear",
        binarize: bool = True,
    ) -> PolygonMasks:
        """Polygon ``inds[i]`` moved into box ``bboxes[i]`` (xyxy, ``[K, 4]``; sides below 1 px
        count as 1) and scaled to ``out_shape`` ``(h, w)``: ``PolygonMasks`` of K instances on
        an ``out_shape`` canvas, as mmdet (``.to_ndarray()`` rasterises; vertices outside the
        canvas are clipped by the rasteriser). ``device`` and ``interpolation`` are accepted
        for the shared signature and unused.

        Raises:
            ValueError: ``binarize=False`` (polygons are always binary).
        """
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return PolygonMasks([], out_h, out_w)
        if not binarize:
            raise ValueError(
                "PolygonMasks.crop_and_resize: polygons are always binary, "
                "binarize=False is unsupported"
            )
        boxes = torch.as_tensor(bboxes).detach().cpu().numpy().astype(np.float64).reshape(-1, 4)
        index = torch.as_tensor(inds).detach().cpu().numpy().astype(np.int64).reshape(-1)
        if len(index) != len(boxes):
            raise ValueError(
                f"PolygonMasks.crop_and_resize: {len(boxes)} boxes for {len(index)} indices"
            )
        resized = []
        for box, i in zip(boxes, index):
            x1, y1, x2, y2 = box
            w_scale = out_w / max(max(x2 - x1, 1.0), 0.1)
            h_scale = out_h / max(max(y2 - y1, 1.0), 0.1)
            polys = []
            for p in self.masks[int(i)]:
                q = np.array(p, dtype=np.float64)
                q[0::2] = (q[0::2] - x1) * w_scale
                q[1::2] = (q[1::2] - y1) * h_scale
                polys.append(q)
            resized.append(polys)
        return PolygonMasks(resized, out_h, out_w)

    def expand(self, expanded_h: int, expanded_w: int, top: int, left: int) -> PolygonMasks:
        """Shift by ``(left, top)`` into an ``expanded_h x expanded_w`` canvas."""

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            p[0::2] += left
            p[1::2] += top
            return p

        return self._map(fn, expanded_h, expanded_w)

    # --- affine warps -------------------------------------------------------------------
    def _warp_points(self, out_shape: tuple[int, int], matrix: NDArray[Any]) -> PolygonMasks:
        out_h, out_w = int(out_shape[0]), int(out_shape[1])

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            xy = apply_matrix_to_points(p.reshape(-1, 2), matrix)
            xy[:, 0] = np.clip(xy[:, 0], 0, out_w)
            xy[:, 1] = np.clip(xy[:, 1], 0, out_h)
            return xy.reshape(-1)

        return self._map(fn, out_h, out_w)

    def translate(
        self,
        out_shape: tuple[int, int],
        offset: float,
        direction: str = "horizontal",
        fill_val: float | None = None,
        interpolation: str | None = None,
    ) -> PolygonMasks:
        """Shift by ``offset`` and clip to ``[0, w]`` (or ``[0, h]``); ``fill_val`` must be
        None or 0 (polygons have no background)."""
        if fill_val not in (None, 0):
            raise ValueError(f"PolygonMasks.translate: fill_val must be None or 0, got {fill_val}")
        out_h, out_w = int(out_shape[0]), int(out_shape[1])
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"translate direction must be horizontal/vertical, got {direction!r}")
        axis, limit = (0, out_w) if direction == "horizontal" else (1, out_h)

        def fn(p: NDArray[Any]) -> NDArray[Any]:
            p[axis::2] = np.clip(p[axis::2] + offset, 0, limit)
            return p

        return self._map(fn, out_h, out_w)

    def shear(
        self,
        out_shape: tuple[int, int],
        magnitude: float,
        direction: str = "horizontal",
        border_value: float = 0,
        interpolation: str = "bilinear",
    ) -> PolygonMasks:
        """Shear about the origin (see :func:`~detkit.structures.affine.shear_matrix`),
        clipped to the image."""
        return self._warp_points(out_shape, shear_matrix(magnitude, direction))

    def rotate(
        self,
        out_shape: tuple[int, int],
        angle: float,
        center: tuple[float, float] | None = None,
        scale: float = 1.0,
        fill_val: float = 0,
    ) -> PolygonMasks:
        """Rotate ``angle`` degrees clockwise about ``center`` (default the image centre
        ``((w-1)/2, (h-1)/2)``, as for the image), clipped to the image."""
        if center is None:
            center = ((self.width - 1) * 0.5, (self.height - 1) * 0.5)
        return self._warp_points(out_shape, rotation_matrix(center, angle, scale))
