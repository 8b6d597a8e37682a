"""Affine warps shared by the mask structures and the image transforms.

Conventions (those of mmcv / OpenCV, which MMDetection v2 uses):

- Points are ``(x, y)`` in **pixel-index coordinates**: pixel ``(i, j)`` of an image sits at
  ``x = j, y = i``; boxes and polygons are transformed with the same 2x3 matrices.
- A positive rotation angle is **clockwise** on screen (y points down); the default centre is
  ``((w - 1) / 2, (h - 1) / 2)``.
- Horizontal shear by ``m`` maps ``(x, y) -> (x + m * y, y)``; vertical maps
  ``(x, y) -> (x, y + m * x)`` (about the origin, pixel ``(0, 0)``).
- Warps keep the output size, use bilinear (or nearest) interpolation, and fill the area
  that comes from outside the source with a constant (per channel).

The raster warps run on ``torchvision.transforms.v2.functional.affine`` over a ``(C, H, W)`` or
``(B, C, H, W)`` tensor (CPU or CUDA), so all channels of one sample (image channels, or all the
instance masks stacked as channels) move in one ``grid_sample`` call. torchvision's own centre
is in pixel-edge coordinates, hence the ``+ 0.5`` when a centre is given; its shear sign is the
opposite of mmcv's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

__all__ = [
    "rotation_matrix",
    "shear_matrix",
    "translation_matrix",
    "apply_matrix_to_points",
    "warp_tensor",
    "warp_hwc",
]

_INTERPOLATIONS = {"bilinear": InterpolationMode.BILINEAR, "nearest": InterpolationMode.NEAREST}


def rotation_matrix(center: tuple[float, float], angle: float, scale: float = 1.0) -> np.ndarray:
    """2x3 float64 matrix rotating ``angle`` degrees clockwise about ``center`` (x, y) with
    ``scale``; equals ``cv2.getRotationMatrix2D(center, -angle, scale)``."""
    theta = math.radians(-angle)
    alpha, beta = scale * math.cos(theta), scale * math.sin(theta)
    cx, cy = center
    return np.array(
        [
            [alpha, beta, (1 - alpha) * cx - beta * cy],
            [-beta, alpha, beta * cx + (1 - alpha) * cy],
        ],
        dtype=np.float64,
    )


def shear_matrix(magnitude: float, direction: str) -> np.ndarray:
    """2x3 float64 shear matrix about the origin (``'horizontal'``: ``x += m * y``)."""
    if direction == "horizontal":
        return np.array([[1.0, magnitude, 0.0], [0.0, 1.0, 0.0]])
    if direction == "vertical":
        return np.array([[1.0, 0.0, 0.0], [magnitude, 1.0, 0.0]])
    raise ValueError(f"shear direction must be 'horizontal' or 'vertical', got {direction!r}")


def translation_matrix(offset: float, direction: str) -> np.ndarray:
    """2x3 float64 translation matrix moving content by ``offset`` pixels right
    (``'horizontal'``) or down (``'vertical'``)."""
    if direction == "horizontal":
        return np.array([[1.0, 0.0, offset], [0.0, 1.0, 0.0]])
    if direction == "vertical":
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, offset]])
    raise ValueError(f"translate direction must be 'horizontal' or 'vertical', got {direction!r}")


def apply_matrix_to_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map points ``[..., 2]`` (x, y) with a 2x3 ``matrix``; returns float64 ``[..., 2]``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def warp_tensor(
    tensor: torch.Tensor,
    *,
    angle: float = 0.0,
    translate: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    shear: tuple[float, float] = (0.0, 0.0),
    center: tuple[float, float] | None = None,
    fill: float | Sequence[float] | None = None,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Affine-warp a ``(..., C, H, W)`` tensor keeping its size and dtype.

    Args:
        tensor: uint8 or float tensor, CPU or CUDA.
        angle: clockwise rotation in degrees (mmcv convention).
        translate: ``(dx, dy)`` pixels.
        scale: isotropic scale about ``center``.
        shear: ``(mx, my)`` shear *magnitudes* (not degrees), mmcv convention, about the origin
            pixel ``(0, 0)``; only one of them may be non-zero, and then ``angle``, ``scale``
            and ``center`` must be left at their defaults.
        center: rotation centre in pixel-index coordinates; None = ``((w-1)/2, (h-1)/2)``.
        fill: value(s) for pixels coming from outside the source, one per channel or one
            for all; None means 0.
        interpolation: ``'bilinear'`` or ``'nearest'``.
    """
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}"
        )
    mx, my = shear
    tv_center: list[float] | None = None
    tv_shear = [0.0, 0.0]
    if mx or my:
        if mx and my:
            raise ValueError(f"shear in both directions at once is not supported, got {shear}")
        if angle or scale != 1.0 or center is not None:
            raise ValueError("shear cannot be combined with rotation, scale or centre")
        # mmcv shears about pixel (0, 0); torchvision's shear sign is the opposite of mmcv's.
        tv_shear = [-math.degrees(math.atan(mx)), -math.degrees(math.atan(my))]
        tv_center = [0.5, 0.5]
    elif center is not None:
        tv_center = [float(center[0]) + 0.5, float(center[1]) + 0.5]
    if fill is not None and not isinstance(fill, (int, float)):
        fill = [float(v) for v in fill]
    elif fill is not None:
        fill = [float(fill)]
    return TF.affine(
        tensor,
        angle=float(angle),
        translate=[float(translate[0]), float(translate[1])],
        scale=float(scale),
        shear=tv_shear,
        interpolation=_INTERPOLATIONS[interpolation],
        fill=fill,
        center=tv_center,
    )


def warp_hwc(array: np.ndarray, **kwargs: object) -> np.ndarray:
    """:func:`warp_tensor` for a NumPy ``(H, W)`` or ``(H, W, C)`` array; same dtype/shape."""
    squeeze = array.ndim == 2
    chw = torch.from_numpy(np.ascontiguousarray(array if not squeeze else array[:, :, None]))
    out = warp_tensor(chw.permute(2, 0, 1), **kwargs)  # type: ignore[arg-type]
    result = out.permute(1, 2, 0).contiguous().numpy()
    return result[:, :, 0] if squeeze else result
