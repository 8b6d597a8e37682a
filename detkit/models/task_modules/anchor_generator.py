"""``AnchorGenerator`` (MMDetection v2): float anchors centred on ``(j*stride, i*stride)``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch

from detkit.registry import PRIOR_GENERATORS

__all__ = ["AnchorGenerator"]


def _pair(value: int | float | Sequence[float]) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"anchor stride must be a number or (w, h), got {value!r}")
        return float(value[0]), float(value[1])
    number = cast(float, value)  # not a pair
    return float(number), float(number)


@PRIOR_GENERATORS.register_module()
class AnchorGenerator:
    """Standard anchor generator for 2D anchor-based detectors.

    Args:
        strides: per-level stride, a number or ``(stride_w, stride_h)``.
        ratios: height/width ratios.
        scales: anchor scales relative to the base size (or use the octave form).
        base_sizes: per-level base size; default ``min(stride)``.
        scale_major: ratios outer, scales inner when flattening base anchors.
        octave_base_scale, scales_per_octave: RetinaNet-style scales.
        centers: explicit base-anchor centres per level.
        center_offset: centre at ``offset * base_size`` (0 ⇒ the cell's top-left corner).

    Anchors are ``[x1, y1, x2, y2]`` float32 in input-image pixels, not rounded. Flattened
    order per level: ``(i * W + j) * A + a``.
    """

    def __init__(
        self,
        strides: Sequence[int | Sequence[int]],
        ratios: Sequence[float],
        scales: Sequence[float] | None = None,
        base_sizes: Sequence[int] | None = None,
        scale_major: bool = True,
        octave_base_scale: float | None = None,
        scales_per_octave: int | None = None,
        centers: Sequence[tuple[float, float]] | None = None,
        center_offset: float = 0.0,
    ) -> None:
        if not 0 <= center_offset <= 1:
            raise ValueError(f"center_offset must be in [0, 1], got {center_offset}")
        if centers is not None:
            if center_offset != 0:
                raise ValueError(f"centers and center_offset={center_offset} cannot be combined")
            if len(centers) != len(strides):
                raise ValueError(f"{len(centers)} centers for {len(strides)} strides")
        self.strides = [_pair(s) for s in strides]
        self.base_sizes = (
            [min(s) for s in self.strides] if base_sizes is None else [float(b) for b in base_sizes]
        )
        if len(self.base_sizes) != len(self.strides):
            raise ValueError(f"{len(self.base_sizes)} base_sizes for {len(self.strides)} strides")
        octave = octave_base_scale is not None and scales_per_octave is not None
        if (scales is not None) == octave:
            raise ValueError(
                "give exactly one of `scales` or (`octave_base_scale` and `scales_per_octave`)"
            )
        if octave_base_scale is not None and scales_per_octave is not None:  # octave
            octave_scales = [2 ** (i / scales_per_octave) for i in range(scales_per_octave)]
            self.scales = torch.tensor(octave_scales) * octave_base_scale
        else:
            self.scales = torch.tensor(list(cast(Sequence[float], scales)), dtype=torch.float32)
        self.ratios = torch.tensor(list(ratios), dtype=torch.float32)
        self.scale_major = scale_major
        self.centers = centers
        self.center_offset = center_offset
        self.base_anchors = [
            self._base_anchors(size, None if centers is None else centers[i])
            for i, size in enumerate(self.base_sizes)
        ]

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_anchors(self) -> list[int]:
        """Anchors per location, per level."""
        return [a.size(0) for a in self.base_anchors]

    def _base_anchors(self, base_size: float, center: tuple[float, float] | None) -> torch.Tensor:
        w = h = base_size
        cx, cy = (self.center_offset * w, self.center_offset * h) if center is None else center
        h_ratios = torch.sqrt(self.ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (w * w_ratios[:, None] * self.scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * self.scales[None, :]).view(-1)
        else:
            ws = (w * self.scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * self.scales[:, None] * h_ratios[None, :]).view(-1)
        return torch.stack([cx - 0.5 * ws, cy - 0.5 * hs, cx + 0.5 * ws, cy + 0.5 * hs], dim=-1)

    @property
    def num_base_priors(self) -> list[int]:
        """Priors per location, per level (v2.18+ name of :attr:`num_base_anchors`)."""
        return self.num_base_anchors

    @staticmethod
    def _shifted(
        base: torch.Tensor,
        featmap_size: Sequence[int],
        stride: Sequence[float],
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> torch.Tensor:
        """``base`` ``[A, 4]`` shifted to every cell of an ``(H, W)`` grid → ``[H*W*A, 4]``."""
        feat_h, feat_w = (
            featmap_size[0],
            featmap_size[1],
        )  # no int(): sizes stay symbolic under torch.export
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride[0]
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride[1]
        shift_yy, shift_xx = torch.meshgrid(shift_y, shift_x, indexing="ij")
        shift_xx, shift_yy = shift_xx.reshape(-1), shift_yy.reshape(-1)
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
        return (base[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def single_level_grid_priors(
        self,
        featmap_size: tuple[int, int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Anchors ``[H*W*A, 4]`` of one level for a feature map of ``(H, W)``."""
        base = self.base_anchors[level_idx].to(device=device, dtype=dtype)
        return self._shifted(base, featmap_size, self.strides[level_idx], dtype, device)

    def grid_priors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> list[torch.Tensor]:
        """Anchors of every level, ``[H_l*W_l*A, 4]`` each."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} levels")
        return [
            self.single_level_grid_priors(
                cast("tuple[int, int]", tuple(featmap_sizes[i])), i, dtype, device
            )
            for i in range(self.num_levels)
        ]

    def single_level_grid_anchors(
        self,
        base_anchors: torch.Tensor,
        featmap_size: Sequence[int],
        stride: Sequence[float] = (16, 16),
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """MMDetection v2's pre-2.18 form: ``base_anchors`` ``[A, 4]`` on a grid of
        ``featmap_size`` ``(H, W)`` with ``stride`` ``(w, h)`` → ``[H*W*A, 4]`` in the base
        anchors' dtype."""
        base = base_anchors.to(device)
        return self._shifted(base, featmap_size, _pair(stride), base.dtype, device)

    def grid_anchors(
        self, featmap_sizes: Sequence[tuple[int, int]], device: torch.device | str = "cpu"
    ) -> list[torch.Tensor]:
        """MMDetection v2's pre-2.18 name of :meth:`grid_priors` (float32 anchors)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} levels")
        return [
            self.single_level_grid_anchors(
                self.base_anchors[i], featmap_sizes[i], self.strides[i], device
            )
            for i in range(self.num_levels)
        ]

    def sparse_priors(
        self,
        prior_idxs: torch.Tensor,
        featmap_size: Sequence[int],
        level_idx: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Anchors ``[K, 4]`` at flat indices ``prior_idxs`` ``[K]`` of level ``level_idx``
        (index ``(i * W + j) * A + a``, the order of :meth:`single_level_grid_priors`)."""
        height, width = int(featmap_size[0]), int(featmap_size[1])
        num_base = self.num_base_anchors[level_idx]
        stride_w, stride_h = self.strides[level_idx]
        base_id = prior_idxs % num_base
        x = (prior_idxs // num_base) % width * stride_w
        y = (prior_idxs // width // num_base) % height * stride_h
        priors = torch.stack([x, y, x, y], 1).to(dtype).to(device)
        return priors + self.base_anchors[level_idx][base_id.cpu(), :].to(
            device=device, dtype=dtype
        )

    @staticmethod
    def single_level_valid_flags(
        featmap_size: Sequence[int],
        valid_size: Sequence[int],
        num_base_anchors: int,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Bool ``[H*W*A]``: the anchor's cell lies in the top-left ``valid_size`` ``(h, w)``
        part of the ``featmap_size`` ``(H, W)`` grid."""
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        valid_h, valid_w = int(valid_size[0]), int(valid_size[1])
        if valid_h > feat_h or valid_w > feat_w:
            raise ValueError(
                f"valid size {(valid_h, valid_w)} exceeds the feature map {(feat_h, feat_w)}"
            )
        valid_x = torch.zeros(feat_w, dtype=torch.bool, device=device)
        valid_y = torch.zeros(feat_h, dtype=torch.bool, device=device)
        valid_x[:valid_w] = True
        valid_y[:valid_h] = True
        valid = (valid_y[:, None] & valid_x[None, :]).reshape(-1)
        return valid[:, None].expand(valid.numel(), num_base_anchors).reshape(-1)

    def valid_flags(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        pad_shape: Sequence[int],
        device: torch.device | str = "cpu",
    ) -> list[torch.Tensor]:
        """Per level bool ``[H_l*W_l*A]``: the anchor's grid cell lies inside ``pad_shape``."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} levels")
        pad_h, pad_w = pad_shape[:2]
        flags = []
        for i in range(self.num_levels):
            stride_w, stride_h = self.strides[i]
            feat_h, feat_w = featmap_sizes[i]
            valid_h = min(int(math.ceil(pad_h / stride_h)), feat_h)
            valid_w = min(int(math.ceil(pad_w / stride_w)), feat_w)
            flags.append(
                self.single_level_valid_flags(
                    (feat_h, feat_w), (valid_h, valid_w), self.num_base_anchors[i], device
                )
            )
        return flags
