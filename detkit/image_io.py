"""Image decoding shared by the data pipeline and the drawing code: one decoder, so a picture
is drawn with the orientation the model saw (OpenCV applies the EXIF orientation, as mmcv's
``imread`` does). A bottom-layer module: it imports nothing of detkit."""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["read_image"]

# OpenCV's IMREAD_COLOR/GRAYSCALE apply the EXIF orientation, as mmcv's imread does.
_COLOR_MODES = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
}


def read_image(path: str, color_type: str = "color", channel_order: str = "bgr") -> np.ndarray:
    """Decode an image file with OpenCV (EXIF orientation applied for colour/grayscale, as mmcv).

    OpenCV rather than Pillow: it decodes PNGs faster, and decoding is a large share of the
    seed train pipeline's time per sample (``bench/pipeline.py``; figures in
    ``docs/benchmarks.md``).

    Args:
        path: image file.
        color_type: ``'color'`` (3 channels), ``'grayscale'`` (``(H, W)``) or ``'unchanged'``.
        channel_order: ``'bgr'`` (mmcv default) or ``'rgb'`` for colour images.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded, or an argument is unknown.
    """
    if color_type not in _COLOR_MODES:
        raise ValueError(f"color_type must be one of {sorted(_COLOR_MODES)}, got {color_type!r}")
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file {path} does not exist")
    # imdecode from bytes: cv2.imread cannot open non-ASCII paths on every platform
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ValueError(f"cannot decode image file {path}: the file is empty (0 bytes)")
    try:
        array = cv2.imdecode(data, _COLOR_MODES[color_type])
    except cv2.error as exc:
        raise ValueError(f"cannot decode image file {path}: {exc}") from exc
    if array is None or array.size == 0:
        raise ValueError(f"cannot decode image file {path}: not a readable image")
    if array.ndim == 3 and array.shape[2] == 3 and channel_order == "rgb":
        array = array[:, :, ::-1]
    return np.ascontiguousarray(array)
