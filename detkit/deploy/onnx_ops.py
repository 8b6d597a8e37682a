"""ONNX translation of detkit's CPU RoIAlign op ``detkit::roi_align`` for the dynamo ONNX
exporter (``torch.onnx.export(..., custom_translation_table=ONNX_TRANSLATIONS)``).

The op has ``torchvision.ops.roi_align`` semantics, which is ONNX's ``RoiAlign`` (opset 16+,
``mode='avg'``): ``aligned=True`` is ``coordinate_transformation_mode='half_pixel'``,
``aligned=False`` is ``'output_half_pixel'``; ``sampling_ratio=0`` is ONNX's adaptive
``ceil(roi_size / output_size)`` samples per bin, as the model uses. RoIs ``[K, 5]``
``[batch_idx, x1, y1, x2, y2]`` are split into ONNX's ``rois [K, 4]`` and
``batch_indices int64 [K]``.
"""

from __future__ import annotations

from collections.abc import Callable

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
    batch_indices = op.Cast(op.Squeeze(op.Slice(rois, [0], [1], [1]), [1]), to=7)  # INT64
    boxes = op.Slice(rois, [1], [5], [1])
    return op.RoiAlign(
        feat,
        boxes,
        batch_indices,
        coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel",
        mode="avg",
        output_height=out_h,
        output_width=out_w,
        sampling_ratio=sampling_ratio,
        spatial_scale=spatial_scale,
    )


ONNX_TRANSLATIONS: dict[Callable, Callable] = {
    torch.ops.detkit.roi_align.default: detkit_roi_align,
}
