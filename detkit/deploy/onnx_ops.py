"""ONNX translation of detkit's CPU RoIAlign op ``detkit::roi_align`` for the dynamo ONNX
exporter (``torch.onnx.export(..., custom_translation_table=ONNX_TRANSLATIONS)``).

The op has ``torchvision.ops.roi_align`` semantics, which is ONNX's ``RoiAlign`` (opset 16+,
``mode='avg'``): ``aligned=True`` is ``coordinate_transformation_mode='half_pixel'``,
``aligned=False`` is ``'output_half_pixel'``; ``sampling_ratio=0`` is ONNX's adaptive
``ceil(roi_size / output_size)`` samples per bin, as the model uses. RoIs ``[K, 5]``
``[batch_idx, x1, y1, x2, y2]`` are split into ONNX's ``rois [K, 4]`` and
``batch_indices int64 [K]``. Size checks (``operator.le``/``lt`` on symbolic sizes) get
their bounds clamped into int64.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from onnxscript import opset18 as op

from detkit.ops import roi_align as _roi_align_module  # noqa: F401  (defines the op)

__all__ = ["ONNX_TRANSLATIONS", "MIN_OPSET"]

# RoiAlign's coordinate_transformation_mode (half_pixel) came with opset 16
MIN_OPSET = 16


def detkit_roi_align(
    feat, rois, spatial_scale: float, out_h: int, out_w: int, sampling_ratio: int, aligned: bool
):
    """``detkit::roi_align`` as one ONNX ``RoiAlign``."""
    if sampling_ratio < 0:
        raise ValueError(
            f"export: RoIAlign sampling_ratio {sampling_ratio} has no ONNX form "
            "(use 0 for adaptive sampling or a positive count)"
        )
    # onnxscript turns the int lists into INT64 constants; its stubs want tensors
    batch_indices = op.Cast(
        op.Squeeze(op.Slice(rois, [0], [1], [1]), [1]),  # type: ignore[type-var, arg-type]
        to=7,  # INT64
    )
    boxes = op.Slice(rois, [1], [5], [1])  # type: ignore[type-var]
    return op.RoiAlign(
        feat,
        boxes,
        batch_indices,  # type: ignore[arg-type]  # INT64 by to=7; the stub types Cast by input
        coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel",
        mode="avg",
        output_height=out_h,
        output_width=out_w,
        sampling_ratio=sampling_ratio,
        spatial_scale=spatial_scale,
    )


_INT64 = (-(2**63), 2**63 - 1)


def _int64(value: Any) -> Any:
    """A Python int bound clamped into int64; other values as they are."""
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, _INT64[0]), _INT64[1])
    return value


def symbolic_le(a, b):
    """``a <= b`` of symbolic sizes. A traced batch makes PyTorch check sizes against bounds
    beyond int64 (its "no bound"), which ONNX cannot hold: clamped, the check is the same."""
    return op.LessOrEqual(_int64(a), _int64(b))


def symbolic_lt(a, b):
    """``a < b`` of symbolic sizes, bounds clamped into int64 (see :func:`symbolic_le`)."""
    return op.Less(_int64(a), _int64(b))


ONNX_TRANSLATIONS: dict[Callable, Callable] = {
    torch.ops.detkit.roi_align.default: detkit_roi_align,
    operator.le: symbolic_le,
    operator.lt: symbolic_lt,
}
