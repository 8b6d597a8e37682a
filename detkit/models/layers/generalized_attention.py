"""Generalised attention (Zhu et al., 2019, "An Empirical Study of Spatial Attention
Mechanisms in Deep Networks"), mmcv's ``GeneralizedAttention`` backbone plugin.

Keys as mmcv's: ``query_conv``, ``key_conv``, ``value_conv``, ``appr_geom_fc_x``,
``appr_geom_fc_y``, ``appr_bias``, ``geom_bias``, ``proj_conv``, ``gamma`` (each only where
``attention_type`` uses it) and ``local_constraint_map`` when ``spatial_range >= 0``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers.weight_init import kaiming_init

__all__ = ["GeneralizedAttention"]

# mmcv sizes the spatial-range map for these widths only (the maps of its GCNet/attention
# configs: 84 × 84 queries at 256 channels, 42 × 42 at 512)
_CONSTRAINT_MAP_SIZES = {256: 84, 512: 42}
_PROJECTIONS = (
    "query_conv",
    "key_conv",
    "value_conv",
    "appr_geom_fc_x",
    "appr_geom_fc_y",
    "proj_conv",
)


class GeneralizedAttention(nn.Module):
    """Multi-head attention over the positions of a map, added to it with a learned gate
    (``gamma``, initialised 0).

    The energy of query ``q`` (at ``(y, x)``) and key ``k`` (at ``(y', x')``) per head sums the
    terms switched on by ``attention_type`` (4 binary digits): ``1000`` query·key content,
    ``0100`` query·relative-position, ``0010`` learned bias·key content, ``0001`` learned
    bias·relative-position. Relative positions are sinusoidal embeddings of ``x - x'`` and
    ``y - y'`` (in input pixels), each projected by a linear layer.

    Args:
        in_channels: ``C`` of the ``[B, C, H, W]`` input (and output).
        spatial_range: keys farther than this many pixels (per axis) are masked out; -1: none.
        num_heads: attention heads; each has ``in_channels // num_heads`` channels.
        position_embedding_dim: sinusoidal embedding width (-1: ``in_channels``).
        position_magnitude: multiplier of the coordinate differences.
        kv_stride, q_stride: average-pool strides of the key/value and query maps.
        attention_type: e.g. ``'1111'`` (all terms) or ``'0010'`` (the two kinds in
            MMDetection's ``empirical_attention`` configs; both equal mmcv's outputs). Where
            the query·position term comes without the bias·position term (``'0100'``,
            ``'1100'``, ...), mmcv pairs the y-offset embeddings with the query grid
            transposed; detkit computes the term as the paper defines it.
    """

    _abbr_ = "gen_attention_block"

    def __init__(
        self,
        in_channels: int,
        spatial_range: int = -1,
        num_heads: int = 9,
        position_embedding_dim: int = -1,
        position_magnitude: int = 1,
        kv_stride: int = 2,
        q_stride: int = 1,
        attention_type: str = "1111",
    ) -> None:
        super().__init__()
        if len(attention_type) != 4 or set(attention_type) - {"0", "1"}:
            raise ValueError(
                "GeneralizedAttention attention_type must be 4 binary digits, "
                f"got {attention_type!r}"
            )
        if spatial_range >= 0 and in_channels not in _CONSTRAINT_MAP_SIZES:
            raise ValueError(
                f"GeneralizedAttention spatial_range={spatial_range} needs in_channels in "
                f"{sorted(_CONSTRAINT_MAP_SIZES)} (mmcv's map sizes), got {in_channels}"
            )
        self.position_embedding_dim = (
            position_embedding_dim if position_embedding_dim > 0 else in_channels
        )
        self.position_magnitude = position_magnitude
        self.num_heads = num_heads
        self.in_channels = in_channels
        self.spatial_range = spatial_range
        self.kv_stride = kv_stride
        self.q_stride = q_stride
        self.attention_type = [digit == "1" for digit in attention_type]
        self.qk_embed_dim = in_channels // num_heads
        self.v_dim = in_channels // num_heads
        out_c = self.qk_embed_dim * num_heads
        content, position, key_bias, position_bias = self.attention_type
        if content or position:
            self.query_conv = nn.Conv2d(in_channels, out_c, 1, bias=False)
        if content or key_bias:
            self.key_conv = nn.Conv2d(in_channels, out_c, 1, bias=False)
        self.value_conv = nn.Conv2d(in_channels, self.v_dim * num_heads, 1, bias=False)
        if position or position_bias:
            half = self.position_embedding_dim // 2
            self.appr_geom_fc_x = nn.Linear(half, out_c, bias=False)
            self.appr_geom_fc_y = nn.Linear(half, out_c, bias=False)
        stdv = 1.0 / math.sqrt(self.qk_embed_dim * 2)
        if key_bias:
            self.appr_bias = nn.Parameter(-2 * stdv * torch.rand(out_c) + stdv)
        if position_bias:
            self.geom_bias = nn.Parameter(-2 * stdv * torch.rand(out_c) + stdv)
        self.proj_conv = nn.Conv2d(self.v_dim * num_heads, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        if spatial_range >= 0:
            self.local_constraint_map = nn.Parameter(
                self._constraint_map(_CONSTRAINT_MAP_SIZES[in_channels]), requires_grad=False
            )
        self.q_downsample = nn.AvgPool2d(1, stride=q_stride) if q_stride > 1 else None
        self.kv_downsample = nn.AvgPool2d(1, stride=kv_stride) if kv_stride > 1 else None
        self.init_weights()

    def _constraint_map(self, size: int) -> torch.Tensor:
        """uint8 ``[size, size, size_kv, size_kv]``: 1 where the key cell ``(y', x')`` lies
        beyond ``spatial_range`` of query ``(y, x)`` (mmcv's bounds, in key-map cells)."""
        size_kv = int((size - 1.0) / self.kv_stride + 1)
        query, key = torch.arange(size)[:, None], torch.arange(size_kv)[None, :]
        low = ((query - self.spatial_range) // self.kv_stride).clamp(min=0)
        high = ((query + self.spatial_range + 1) // self.kv_stride + 1).clamp(max=size)
        near = (key >= low) & (key < high)  # [size, size_kv], per axis
        inside = near[:, None, :, None] & near[None, :, None, :]
        return (~inside).to(torch.uint8)

    def init_weights(self) -> None:
        """mmcv's: Kaiming-uniform (fan_in, ``a=1``, leaky-ReLU gain) on every projection."""
        for name in _PROJECTIONS:
            layer = getattr(self, name, None)
            if layer is not None:
                kaiming_init(
                    layer, a=1, mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
                )

    def _position_features(
        self, size: int, size_kv: int, fc: nn.Module, ref: torch.Tensor
    ) -> torch.Tensor:
        """Projected embeddings of the query-minus-key offsets along one axis:
        ``[heads, size, size_kv, qk_embed_dim]``, scaled by 1/sqrt(2)."""
        positions = torch.arange(size, device=ref.device, dtype=ref.dtype) * self.q_stride
        positions_kv = torch.arange(size_kv, device=ref.device, dtype=ref.dtype) * self.kv_stride
        diff = (positions[:, None] - positions_kv[None, :]) * self.position_magnitude
        dim = self.position_embedding_dim
        freq_range = torch.arange(0, dim / 4, device=ref.device, dtype=ref.dtype)
        wavelengths = torch.tensor(1000.0, device=ref.device, dtype=ref.dtype) ** (
            (4.0 / dim) * freq_range
        )
        angles = diff[..., None] / wavelengths
        embedding = torch.cat([angles.sin(), angles.cos()], dim=2)
        features: torch.Tensor = fc(embedding)
        features = features.view(size, size_kv, self.num_heads, self.qk_embed_dim)
        return features.permute(2, 0, 1, 3) / math.sqrt(2)

    def _energy(self, x_q: torch.Tensor, x_kv: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Attention logits ``[B, heads, h·w, h_kv·w_kv]`` and the query grid ``(h, w)``
        (``(1, 1)`` when no term depends on the query)."""
        content, position, key_bias, position_bias = self.attention_type
        n, _, h, w = x_q.shape
        h_kv, w_kv = x_kv.shape[2:]
        heads, dim = self.num_heads, self.qk_embed_dim
        if not (content or position or position_bias):
            h = w = 1
        energy = x_q.new_zeros(n, heads, h, w, h_kv, w_kv)
        query = None
        if content or position:
            query = self.query_conv(x_q).reshape(n, heads, dim, h * w).transpose(2, 3)
        if content or key_bias:
            key = self.key_conv(x_kv).reshape(n, heads, dim, h_kv * w_kv)
            if content:
                assert query is not None
                probe = query + (self.appr_bias.view(1, heads, 1, dim) if key_bias else 0)
            else:
                probe = self.appr_bias.view(1, heads, 1, dim).expand(n, heads, 1, dim)
            grid = (h, w) if content else (1, 1)
            energy = energy + torch.matmul(probe, key).view(n, heads, *grid, h_kv, w_kv)
        if position or position_bias:
            px = self._position_features(w, w_kv, self.appr_geom_fc_x, x_q)
            py = self._position_features(h, h_kv, self.appr_geom_fc_y, x_q)
            bias = self.geom_bias.view(1, heads, 1, 1, dim) if position_bias else 0
            if position:
                assert query is not None
                probe = query.reshape(n, heads, h, w, dim) + bias
            else:
                probe = self.geom_bias.view(1, heads, 1, 1, dim).expand(n, heads, h, w, dim)
            energy_x = torch.einsum("nayxd,axkd->nayxk", probe, px)
            energy_y = torch.einsum("nayxd,aykd->nayxk", probe, py)
            energy = energy + energy_x[:, :, :, :, None, :] + energy_y[:, :, :, :, :, None]
        return energy.view(n, heads, h * w, h_kv * w_kv), h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` → ``x + gamma · attention(x)``, same shape."""
        x_q = self.q_downsample(x) if self.q_downsample is not None else x
        x_kv = self.kv_downsample(x) if self.kv_downsample is not None else x
        n = x.size(0)
        h_kv, w_kv = x_kv.shape[2:]
        energy, h, w = self._energy(x_q, x_kv)
        if self.spatial_range >= 0:
            far = self.local_constraint_map[:h, :w, :h_kv, :w_kv].reshape(1, 1, h * w, -1)
            energy = energy.masked_fill(far.bool(), float("-inf"))
        attention = F.softmax(energy, dim=3)
        value = self.value_conv(x_kv).reshape(n, self.num_heads, self.v_dim, h_kv * w_kv)
        out = torch.matmul(attention, value.transpose(2, 3))  # [n, heads, h·w, v_dim]
        out = out.transpose(2, 3).reshape(n, self.num_heads * self.v_dim, h, w)
        out = self.proj_conv(out)
        if self.q_downsample is not None:
            out = F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False)
        return self.gamma * out + x
