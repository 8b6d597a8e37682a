"""Deformable RoI pooling (mmcv's ``DeformRoIPool``, ``DeformRoIPoolPack``,
``ModulatedDeformRoIPoolPack``; Dai et al., 2017 and Zhu et al., 2019), in pure PyTorch.

Pooling is mmcv's ``deform_roi_pool``: RoIAlign with ``aligned=True`` (coordinates
``x · spatial_scale - 0.5``) whose bin ``(ph, pw)`` is shifted by
``gamma · (roi_w · offset[0, ph, pw], roi_h · offset[1, ph, pw])``; each bin averages a
``g × g`` grid of bilinear samples (``g = sampling_ratio``, or ``ceil(roi side / output
side)`` when 0), read with mmcv's border rules (zero beyond one pixel outside, clamped
within it). Samples are gathered from the feature map directly, so the result is
differentiable in the features and in the offsets (the packs train their ``offset_fc``).
Keys as mmcv's: ``offset_fc.{0,2,4}``, ``mask_fc.{0,2}``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair

__all__ = ["DeformRoIPool", "DeformRoIPoolPack", "ModulatedDeformRoIPoolPack", "deform_roi_pool"]


def _bilinear_taps(
    size: tuple[int, int], y: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The four pixels (``[4, N]`` flat ``y·W + x`` indices) and weights (``[4, N]``) that
    bilinearly sample a map of spatial ``size`` at ``y``, ``x`` ``[N]``, with mmcv's border
    rules: zero beyond one pixel outside, clamped to the edge within it."""
    height, width = size
    inside = ((y >= -1) & (y <= height) & (x >= -1) & (x <= width)).to(y.dtype)
    y, x = y.clamp(min=0), x.clamp(min=0)
    y0, x0 = y.detach().floor().clamp(max=height - 1), x.detach().floor().clamp(max=width - 1)
    ly = torch.where(y0 >= height - 1, torch.zeros_like(y), y - y0)
    lx = torch.where(x0 >= width - 1, torch.zeros_like(x), x - x0)
    y0, x0 = y0.long(), x0.long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    index = torch.stack([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1])
    hy, hx = (1 - ly) * inside, 1 - lx
    ly = ly * inside
    weight = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx])
    return index, weight


def deform_roi_pool(
    feats: torch.Tensor,
    rois: torch.Tensor,
    offset: torch.Tensor | None,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    gamma: float = 0.1,
) -> torch.Tensor:
    """Pool ``rois`` ``[K, 5]`` ``(batch_idx, x1, y1, x2, y2)`` (input pixels) from
    ``feats`` ``[B, C, H, W]`` into ``[K, C, out_h, out_w]``; ``offset`` ``[K, 2, out_h,
    out_w]`` (x then y, in units of the RoI size times ``gamma``) or None (plain aligned
    RoIAlign).

    Every bin is a weighted sum of pixels, so the pooling is one sparse ``[K·bins, B·H·W]``
    by dense ``[B·H·W, C]`` product (4 weights per sample, divided by the bin's sample
    count); its weights carry the gradient to the offsets."""
    out_h, out_w = _pair(output_size)
    num, channels = rois.shape[0], feats.shape[1]
    if num == 0:
        return feats.new_zeros(0, channels, out_h, out_w)
    start_x = rois[:, 1] * spatial_scale - 0.5
    start_y = rois[:, 2] * spatial_scale - 0.5
    roi_w = rois[:, 3] * spatial_scale - 0.5 - start_x
    roi_h = rois[:, 4] * spatial_scale - 0.5 - start_y
    bin_w, bin_h = roi_w / out_w, roi_h / out_h
    pw = torch.arange(out_w, device=feats.device, dtype=feats.dtype)
    ph = torch.arange(out_h, device=feats.device, dtype=feats.dtype)
    bins_x = start_x[:, None, None] + pw[None, None, :] * bin_w[:, None, None]  # [K, 1, out_w]
    bins_y = start_y[:, None, None] + ph[None, :, None] * bin_h[:, None, None]  # [K, out_h, 1]
    if offset is not None:
        bins_x = bins_x + gamma * roi_w[:, None, None] * offset[:, 0]
        bins_y = bins_y + gamma * roi_h[:, None, None] * offset[:, 1]
    bins_x, bins_y = bins_x.expand(num, out_h, out_w), bins_y.expand(num, out_h, out_w)
    if sampling_ratio > 0:
        grid_h = torch.full((num,), sampling_ratio, device=feats.device, dtype=torch.long)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h.detach() / out_h).clamp(min=1).long()
        grid_w = torch.ceil(roi_w.detach() / out_w).clamp(min=1).long()
    batch, height, width = feats.shape[0], feats.shape[2], feats.shape[3]
    bin_ids = torch.arange(num * out_h * out_w, device=feats.device).view(num, out_h, out_w)
    rows, cols, values = [], [], []
    grids = torch.stack([grid_h, grid_w], dim=1)
    pairs = grids.unique(dim=0)  # type: ignore[no-untyped-call]  # torch leaves it unannotated
    for gh, gw in pairs.tolist():
        sel = ((grid_h == gh) & (grid_w == gw)).nonzero().squeeze(1)
        iy = (torch.arange(gh, device=feats.device, dtype=feats.dtype) + 0.5) / gh
        ix = (torch.arange(gw, device=feats.device, dtype=feats.dtype) + 0.5) / gw
        # [k, out_h, out_w, gh, gw] sample positions
        ys = bins_y[sel][..., None, None] + iy[:, None] * bin_h[sel][:, None, None, None, None]
        xs = bins_x[sel][..., None, None] + ix[None, :] * bin_w[sel][:, None, None, None, None]
        ys, xs = torch.broadcast_tensors(ys, xs)  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        index, weight = _bilinear_taps((height, width), ys.reshape(-1), xs.reshape(-1))
        image = rois[sel, 0].long()[:, None, None, None, None].expand_as(ys).reshape(-1)
        target = bin_ids[sel][..., None, None].expand_as(ys).reshape(-1)
        rows.append(target.repeat(4))
        cols.append((index + (image * height * width)[None]).reshape(-1))
        values.append(weight.reshape(-1) / (gh * gw))
    pooling = torch.sparse_coo_tensor(
        torch.stack([torch.cat(rows), torch.cat(cols)]),
        torch.cat(values),
        (num * out_h * out_w, batch * height * width),
        check_invariants=False,  # indices in range by construction
    )
    pixels = feats.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
    pooled = torch.sparse.mm(pooling, pixels)
    out: torch.Tensor = pooled.view(num, out_h, out_w, channels).permute(0, 3, 1, 2).contiguous()
    return out


class DeformRoIPool(nn.Module):
    """:func:`deform_roi_pool` as a module: ``forward(feats, rois, offset=None)``."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        gamma: float = 0.1,
    ) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.gamma = float(gamma)

    def forward(
        self, feats: torch.Tensor, rois: torch.Tensor, offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        return deform_roi_pool(
            feats,
            rois,
            offset,
            self.output_size,
            self.spatial_scale,
            self.sampling_ratio,
            self.gamma,
        )


def _fc(sizes: list[int], last: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(cin, cout))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    if last is not None:
        layers.append(last)
    head = layers[-2] if last is not None else layers[-1]
    assert isinstance(head, nn.Linear)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers)


class DeformRoIPoolPack(DeformRoIPool):
    """Predict the offsets from a plain pooling (``offset_fc``: three linears, the last
    zero-initialised), then pool with them. ``[B, output_channels, H, W]`` features and
    ``[K, 5]`` RoIs → ``[K, output_channels, out_h, out_w]``."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        output_channels: int,
        deform_fc_channels: int = 1024,
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        gamma: float = 0.1,
    ) -> None:
        super().__init__(output_size, spatial_scale, sampling_ratio, gamma)
        self.output_channels = output_channels
        flat = math.prod(self.output_size) * output_channels
        bins = math.prod(self.output_size)
        self.offset_fc = _fc([flat, deform_fc_channels, deform_fc_channels, 2 * bins], None)

    def _check(self, feats: torch.Tensor) -> None:
        if feats.shape[1] != self.output_channels:
            raise ValueError(
                f"{type(self).__name__}: features have {feats.shape[1]} channels, "
                f"output_channels={self.output_channels}"
            )

    def _offsets(self, feats: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._check(feats)
        plain = super().forward(feats, rois)
        flat = plain.flatten(1)
        offset = self.offset_fc(flat).view(rois.shape[0], 2, *self.output_size)
        return flat, offset

    def forward(  # type: ignore[override]
        self, feats: torch.Tensor, rois: torch.Tensor
    ) -> torch.Tensor:
        _, offset = self._offsets(feats, rois)
        return super().forward(feats, rois, offset)


class ModulatedDeformRoIPoolPack(DeformRoIPoolPack):
    """:class:`DeformRoIPoolPack` whose output is also scaled per bin by a sigmoid mask
    from ``mask_fc`` (two linears, the last zero-initialised: masks start at 0.5)."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        output_channels: int,
        deform_fc_channels: int = 1024,
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        gamma: float = 0.1,
    ) -> None:
        super().__init__(
            output_size, output_channels, deform_fc_channels, spatial_scale, sampling_ratio, gamma
        )
        flat = math.prod(self.output_size) * output_channels
        bins = math.prod(self.output_size)
        self.mask_fc = _fc([flat, deform_fc_channels, bins], nn.Sigmoid())

    def forward(  # type: ignore[override]
        self, feats: torch.Tensor, rois: torch.Tensor
    ) -> torch.Tensor:
        flat, offset = self._offsets(feats, rois)
        mask = self.mask_fc(flat).view(rois.shape[0], 1, *self.output_size)
        out: torch.Tensor = DeformRoIPool.forward(self, feats, rois, offset) * mask
        return out
