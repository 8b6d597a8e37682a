"""``ImageMeta``: one image's meta dict (MMDetection's ``img_metas`` entry) as the model reads
it, and ``BatchGeometry``: what traced inference reads of a batch's metas, as tensors.

The detector converts each ``img_metas`` dict once, at its entry points, into a frozen
``ImageMeta``; nothing inside the model reads or writes the dicts. Conventions: shapes are
``(height, width)`` ints, ``scale_factor`` is ``(w, h, w, h)`` (the factor from original to
network-input pixels, float32 values), ``flip_direction`` is ``'horizontal'``, ``'vertical'``
or ``'diagonal'`` for flipped views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["BatchGeometry", "ImageMeta"]

_REQUIRED = ("img_shape", "ori_shape", "scale_factor")


def _hw(shape: Any) -> tuple[int, int]:
    return int(shape[0]), int(shape[1])


def _scale4(scale_factor: Any, where: str) -> tuple[float, float, float, float]:
    """A meta's ``scale_factor`` (float, list, array or tensor) as four float32 values."""
    if isinstance(scale_factor, torch.Tensor):
        scale_factor = scale_factor.detach().cpu().numpy()
    scale: NDArray[np.float32] = np.asarray(scale_factor, dtype=np.float32).reshape(-1)
    if scale.size == 1:
        scale = np.repeat(scale, 4)
    if scale.size != 4:
        raise ValueError(f"{where}: scale_factor must be one value or (w, h, w, h), got {scale}")
    w, h, w2, h2 = (float(v) for v in scale)
    return w, h, w2, h2


@dataclass(frozen=True)
class ImageMeta:
    """One image's geometry through the test or train pipeline.

    Attributes:
        img_shape: ``(h, w)`` of the resized image before padding (boxes are clipped to it).
        ori_shape: ``(h, w)`` of the original image.
        pad_shape: ``(h, w)`` after padding (``img_shape`` when the pipeline did not pad).
        scale_factor: ``(w, h, w, h)``: original pixels × scale = network-input pixels.
        flip: whether the view is flipped; ``flip_direction`` says how (None when not).
    """

    img_shape: tuple[int, int]
    ori_shape: tuple[int, int]
    pad_shape: tuple[int, int]
    scale_factor: tuple[float, float, float, float]
    flip: bool = False
    flip_direction: str | None = None

    @classmethod
    def from_mmdet(cls, meta: Mapping[str, Any]) -> ImageMeta:
        """From an MMDetection ``img_metas`` dict (``img_shape``, ``ori_shape``,
        ``scale_factor``; ``pad_shape``, ``flip``, ``flip_direction`` when present)."""
        missing = [key for key in _REQUIRED if key not in meta]
        if missing:
            raise KeyError(
                f"image meta has no {', '.join(map(repr, missing))} (it has {sorted(meta)}); "
                "the test/train pipeline's Collect must keep them in meta_keys"
            )
        flip = bool(meta.get("flip", False))
        return cls(
            img_shape=_hw(meta["img_shape"]),
            ori_shape=_hw(meta["ori_shape"]),
            pad_shape=_hw(meta.get("pad_shape", meta["img_shape"])),
            scale_factor=_scale4(meta["scale_factor"], "image meta"),
            flip=flip,
            flip_direction=(meta.get("flip_direction") or "horizontal") if flip else None,
        )

    @classmethod
    def of(cls, meta: ImageMeta | Mapping[str, Any]) -> ImageMeta:
        """``meta`` itself, or the ``ImageMeta`` of an MMDetection meta dict."""
        return meta if isinstance(meta, ImageMeta) else cls.from_mmdet(meta)

    def output_scale(self, rescale: bool) -> tuple[float, float, float, float]:
        """What output boxes are divided by: ``scale_factor`` with ``rescale`` (boxes in
        original pixels), else ones (boxes in network-input pixels)."""
        return self.scale_factor if rescale else (1.0, 1.0, 1.0, 1.0)

    def canvas_shape(self, rescale: bool) -> tuple[int, int]:
        """``(H, W)`` of the image output masks are pasted on: ``ori_shape`` with
        ``rescale``, else ``round(ori × scale)`` (the resized image, as MMDetection v2)."""
        if rescale:
            return self.ori_shape
        w_scale, h_scale = self.scale_factor[0], self.scale_factor[1]
        return (
            int(np.round(self.ori_shape[0] * h_scale)),
            int(np.round(self.ori_shape[1] * w_scale)),
        )


def image_metas(metas: Sequence[ImageMeta | Mapping[str, Any]]) -> list[ImageMeta]:
    """``ImageMeta.of`` of each meta of a batch."""
    return [ImageMeta.of(meta) for meta in metas]


@dataclass(frozen=True, eq=False)
class BatchGeometry:
    """A batch's metas as the inference graph reads them: ``img_shape`` float32 ``[B, 2]``
    (h, w: boxes are clipped to it) and ``scale_factor`` float32 ``[B, 4]`` (w, h, w, h:
    output boxes are divided by it; ones for network-input pixels). An exported detector
    takes these two tensors as inputs beside the image."""

    img_shape: torch.Tensor
    scale_factor: torch.Tensor

    @classmethod
    def of(
        cls,
        metas: Sequence[ImageMeta],
        rescale: bool,
        device: torch.device | str | None = None,
    ) -> BatchGeometry:
        """The geometry of ``metas``; ``rescale``: output boxes in original pixels."""
        shapes = torch.tensor([m.img_shape for m in metas], dtype=torch.float32, device=device)
        scales = torch.tensor(
            [m.output_scale(rescale) for m in metas], dtype=torch.float32, device=device
        )
        return cls(shapes.reshape(-1, 2), scales.reshape(-1, 4))

    @property
    def num_images(self) -> Any:
        """B (a symbolic size while tracing)."""
        return self.img_shape.shape[0]
