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

Tensors (CPU or CUDA, ``(C, H, W)`` or batched) are warped with
``torchvision.transforms.v2.functional.affine`` (:func:`warp_tensor`): all channels of a sample
(image channels, or all instance masks stacked as channels) move in one ``grid_sample`` call.
torchvision's own centre is in pixel-edge coordinates, hence the ``+ 0.5`` when a centre is
given; its shear sign is the opposite of mmcv's. NumPy arrays take the CPU fast path
:func:`warp_hwc` (OpenCV, as mmcv does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from numpy.typing import NDArray
from torchvision.transforms import InterpolationMode

__all__ = [
    "rotation_matrix",
    "shear_matrix",
    "translation_matrix",
    "apply_matrix_to_points",
    "AffineParams",
    "warp_tensor",
    "warp_hwc",
]

_INTERPOLATIONS = {"bilinear": InterpolationMode.BILINEAR, "nearest": InterpolationMode.NEAREST}
_CV2_INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def rotation_matrix(center: tuple[float, float], angle: float, scale: float = 1.0) -> NDArray[Any]:
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


def shear_matrix(magnitude: float, direction: str) -> NDArray[Any]:
    """2x3 float64 shear matrix about the origin (``'horizontal'``: ``x += m * y``)."""
    if direction == "horizontal":
        return np.array([[1.0, magnitude, 0.0], [0.0, 1.0, 0.0]])
    if direction == "vertical":
        return np.array([[1.0, 0.0, 0.0], [magnitude, 1.0, 0.0]])
    raise ValueError(f"shear direction must be 'horizontal' or 'vertical', got {direction!r}")


def translation_matrix(offset: float, direction: str) -> NDArray[Any]:
    """2x3 float64 translation matrix moving content by ``offset`` pixels right
    (``'horizontal'``) or down (``'vertical'``)."""
    if direction == "horizontal":
        return np.array([[1.0, 0.0, offset], [0.0, 1.0, 0.0]])
    if direction == "vertical":
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, offset]])
    raise ValueError(f"translate direction must be 'horizontal' or 'vertical', got {direction!r}")


def apply_matrix_to_points(points: NDArray[Any], matrix: NDArray[Any]) -> NDArray[Any]:
    """Map points ``[..., 2]`` (x, y) with a 2x3 ``matrix``; returns float64 ``[..., 2]``."""
    pts = np.asarray(points, dtype=np.float64)
    mapped: NDArray[Any] = pts @ matrix[:, :2].T + matrix[:, 2]
    return mapped


@dataclass(frozen=True)
class AffineParams:
    """One affine warp in mmcv conventions.

    Attributes:
        angle: clockwise rotation in degrees about ``center``.
        translate: ``(dx, dy)`` pixels, applied after the rotation.
        scale: isotropic scale about ``center``.
        shear: ``(mx, my)`` shear *magnitudes* (not degrees) about pixel ``(0, 0)``; at most one
            non-zero, and then angle/scale/center must keep their defaults.
        center: rotation centre (pixel-index coordinates); None = ``((w-1)/2, (h-1)/2)``.
    """

    angle: float = 0.0
    translate: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    shear: tuple[float, float] = (0.0, 0.0)
    center: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        mx, my = self.shear
        if mx and my:
            raise ValueError(f"shear in both directions at once is not supported, got {self.shear}")
        if (mx or my) and (self.angle or self.scale != 1.0 or self.center is not None):
            raise ValueError("shear cannot be combined with rotation, scale or centre")

    def matrix(self, height: int, width: int) -> NDArray[Any]:
        """Forward 2x3 float64 matrix for an image of ``height x width``."""
        mx, my = self.shear
        if mx or my:
            matrix = shear_matrix(mx or my, "horizontal" if mx else "vertical")
        else:
            center = (
                self.center if self.center is not None else ((width - 1) * 0.5, (height - 1) * 0.5)
            )
            matrix = rotation_matrix(center, self.angle, self.scale)
        matrix[:, 2] += self.translate
        return matrix


def _fill_list(fill: float | Sequence[float] | None) -> list[float] | None:
    if fill is None:
        return None
    if isinstance(fill, (int, float)):
        return [float(fill)]
    return [float(v) for v in fill]


def warp_tensor(
    tensor: torch.Tensor,
    params: AffineParams,
    fill: float | Sequence[float] | None = None,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Affine-warp a ``(..., C, H, W)`` tensor (uint8 or float, CPU or CUDA) keeping its size
    and dtype, with ``torchvision.transforms.v2.functional.affine`` (one ``grid_sample`` for
    all channels and batch entries).

    Args:
        tensor: ``(..., C, H, W)`` tensor.
        params: the warp.
        fill: value(s) for pixels coming from outside the source, one per channel or one
            for all; None means 0.
        interpolation: ``'bilinear'`` or ``'nearest'``.
    """
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}"
        )
    mx, my = params.shear
    tv_center: list[float] | None = None
    if mx or my:
        # mmcv shears about pixel (0, 0); torchvision's shear sign is the opposite of mmcv's.
        tv_shear = [-math.degrees(math.atan(mx)), -math.degrees(math.atan(my))]
        tv_center = [0.5, 0.5]
    else:
        tv_shear = [0.0, 0.0]
        if params.center is not None:
            tv_center = [float(params.center[0]) + 0.5, float(params.center[1]) + 0.5]
    # Constant border as OpenCV does it (sum over inside taps of w_i * v_i plus the outside
    # weight times the fill): warp ``tensor - fill`` with zero padding, then add ``fill``.
    # (torchvision's own ``fill`` multiplies the interpolated value by the inside weight a
    # second time, which darkens the one-pixel band along the border.)
    work = tensor if tensor.is_floating_point() else tensor.float()
    fill_values = _fill_list(fill)
    fill_t = None
    if fill_values is not None and any(fill_values):
        fill_t = torch.tensor(fill_values, dtype=work.dtype, device=work.device).view(-1, 1, 1)
        work = work - fill_t
    warped: torch.Tensor = TF.affine(
        work,
        angle=float(params.angle),
        translate=[float(params.translate[0]), float(params.translate[1])],
        scale=float(params.scale),
        shear=tv_shear,
        interpolation=_INTERPOLATIONS[interpolation],
        fill=None,
        center=tv_center,
    )
    if fill_t is not None:
        warped = warped + fill_t
    if tensor.is_floating_point():
        return warped
    info = torch.iinfo(tensor.dtype)
    return warped.round_().clamp_(info.min, info.max).to(tensor.dtype)


def warp_hwc(
    array: NDArray[Any],
    params: AffineParams,
    fill: float | Sequence[float] | None = None,
    interpolation: str = "bilinear",
) -> NDArray[Any]:
    """Affine-warp a NumPy ``(H, W)`` or ``(H, W, C)`` array keeping its size and dtype.

    CPU path: ``cv2.warpAffine`` (what mmcv's ``imrotate``/``imtranslate``/``imshear`` call),
    because on full-size images it measured much faster than torchvision's affine on one
    thread (``bench/pipeline.py`` has the figures). Results agree with :func:`warp_tensor` to
    within one grey level (exactly for integer translations and multiples of 90 degrees).
    """
    if interpolation not in _CV2_INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {sorted(_CV2_INTERPOLATIONS)}, got {interpolation!r}"
        )
    height, width = array.shape[:2]
    values = _fill_list(fill) or [0.0]
    channels = 1 if array.ndim == 2 else array.shape[2]
    if len(values) == 1:
        values = values * min(channels, 4)
    if channels > 4:
        # cv2 takes at most 4 border values: warp in chunks of channels
        chunks = [
            warp_hwc(array[:, :, i : i + 4], params, values[i : i + 4], interpolation)
            for i in range(0, channels, 4)
        ]
        return np.concatenate([c if c.ndim == 3 else c[:, :, None] for c in chunks], axis=2)
    warped = cv2.warpAffine(
        array,
        params.matrix(height, width),
        (width, height),
        flags=_CV2_INTERPOLATIONS[interpolation],
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(values),
    )
    if warped.ndim == 2 and array.ndim == 3:
        warped = warped[:, :, None]
    return warped
