"""Other first transforms of MMDetection v2 (``mmdet/datasets/pipelines/loading.py``):
``LoadImageFromWebcam`` (an array already in ``results['img']``), detkit's stricter
``LoadImageFromArray`` (``inference_detector`` on arrays), ``LoadMultiChannelImageFromFiles``
(one file per channel) and ``LoadProposals``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from detkit.data.transforms.loading import LoadImageFromFile, disk_file_client_args, read_image
from detkit.registry import PIPELINES

__all__ = [
    "LoadImageFromArray",
    "LoadImageFromWebcam",
    "LoadMultiChannelImageFromFiles",
    "LoadProposals",
]


@PIPELINES.register_module()
class LoadImageFromWebcam(LoadImageFromFile):
    """Take the image from ``results['img']`` (an ``(H, W[, C])`` array, HWC uint8 BGR from
    OpenCV capture or ``inference_detector``) and set the fields ``LoadImageFromFile`` sets,
    with ``filename`` and ``ori_filename`` None.

    Raises:
        TypeError: ``results['img']`` is not a NumPy array.
        ValueError: it is not 2-D or 3-D, or has a zero side.
    """

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img" not in results:
            raise KeyError(
                f"{type(self).__name__}: results have no 'img' (present: {sorted(results)})"
            )
        img = results["img"]
        if not isinstance(img, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}: results['img'] must be a numpy array (HWC BGR), "
                f"got {type(img).__name__}"
            )
        if img.ndim not in (2, 3) or 0 in img.shape[:2]:
            raise ValueError(
                f"{type(self).__name__}: results['img'] must be an (H, W[, C]) image "
                f"with H, W > 0, got shape {img.shape}"
            )
        if self.to_float32:
            img = img.astype(np.float32)
        results.update(
            filename=None,
            ori_filename=None,
            img=img,
            img_shape=img.shape,
            ori_shape=img.shape,
            img_fields=["img"],
        )
        return results


@PIPELINES.register_module()
class LoadImageFromArray(LoadImageFromWebcam):
    """``LoadImageFromWebcam`` for images given as arrays (``inference_detector``,
    ``predict_images``: it replaces the test pipeline's first transform): ``results['img']``
    must be HWC uint8 BGR with 3 channels, as decoded from a file.

    Raises:
        ValueError: the array is not ``(H, W, 3)`` with H, W > 0, or not uint8.
    """

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results.get("img")
        if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(
                f"image array must be HWC with 3 channels (BGR), got {getattr(img, 'shape', img)}"
            )
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(
                f"image array is empty: shape {img.shape} (height and width must be >= 1)"
            )
        if img.dtype != np.uint8:
            raise ValueError(
                f"image array must be uint8 (0-255, as decoded from a file), got {img.dtype}; "
                "convert with img.astype(np.uint8), or (img * 255).astype(np.uint8) for 0-1 floats"
            )
        return super().__call__(results)


@PIPELINES.register_module()
class LoadMultiChannelImageFromFiles:
    """Load ``img_info['filename']``, a list of single-channel files (each joined to
    ``img_prefix``), and stack them on the last axis into ``(H, W, n)``.

    Sets ``filename`` (the paths), ``ori_filename``, ``img``, ``img_shape``, ``ori_shape``,
    ``img_fields`` and, as mmdet does, ``pad_shape``, ``scale_factor = 1.0`` and an identity
    ``img_norm_cfg`` of n channels.

    Raises:
        TypeError: ``img_info['filename']`` is not a list of paths.
        ValueError: the channel images differ in size.
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = "unchanged",
        channel_order: str = "bgr",
        file_client_args: dict | None = None,
    ) -> None:
        self.file_client_args = disk_file_client_args(file_client_args, type(self).__name__)
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        names = results["img_info"]["filename"]
        if isinstance(names, (str, os.PathLike)) or not isinstance(names, (list, tuple)):
            raise TypeError(
                f"{type(self).__name__}: img_info['filename'] must be a list of files "
                f"(one per channel), got {names!r}"
            )
        prefix = results.get("img_prefix")
        paths = [os.path.join(prefix, n) for n in names] if prefix is not None else list(names)
        channels = [read_image(p, self.color_type, self.channel_order) for p in paths]
        shapes = {c.shape for c in channels}
        if len(shapes) != 1:
            raise ValueError(
                f"{type(self).__name__}: channel images differ in size "
                f"{[c.shape for c in channels]} ({paths})"
            )
        img = np.stack(channels, axis=-1)
        if self.to_float32:
            img = img.astype(np.float32)
        num_channels = 1 if img.ndim < 3 else img.shape[2]
        results.update(
            filename=paths,
            ori_filename=names,
            img=img,
            img_shape=img.shape,
            ori_shape=img.shape,
            img_fields=["img"],
            pad_shape=img.shape,
            scale_factor=1.0,
            img_norm_cfg={
                "mean": np.zeros(num_channels, dtype=np.float32),
                "std": np.ones(num_channels, dtype=np.float32),
                "to_rgb": False,
            },
        )
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(to_float32={self.to_float32}, color_type={self.color_type!r}, "
            f"channel_order={self.channel_order!r}, file_client_args={self.file_client_args})"
        )


@PIPELINES.register_module()
class LoadProposals:
    """Keep the first ``num_max_proposals`` of ``results['proposals']`` (``(n, 4)`` or
    ``(n, 5)`` with scores; the score column is dropped) as ``[n, 4]`` xyxy and add
    ``'proposals'`` to ``bbox_fields``; no proposal at all becomes one ``[0, 0, 0, 0]`` box,
    as mmdet.

    Raises:
        ValueError: proposals of another shape (mmdet asserts).
    """

    def __init__(self, num_max_proposals: int | None = None) -> None:
        self.num_max_proposals = num_max_proposals

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "proposals" not in results:
            raise KeyError(
                "LoadProposals: results have no 'proposals'; set the dataset's proposal_file"
            )
        proposals = np.asarray(results["proposals"])
        if proposals.ndim != 2 or proposals.shape[1] not in (4, 5):
            raise ValueError(
                f"LoadProposals: proposals should have shape (n, 4) or (n, 5), got "
                f"{proposals.shape}"
            )
        proposals = proposals[:, :4]
        if self.num_max_proposals is not None:
            proposals = proposals[: self.num_max_proposals]
        if len(proposals) == 0:
            proposals = np.array([[0, 0, 0, 0]], dtype=np.float32)
        results["proposals"] = proposals
        results.setdefault("bbox_fields", []).append("proposals")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_max_proposals={self.num_max_proposals})"
