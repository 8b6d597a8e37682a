"""CARAFE upsampling (Wang et al., 2019, "Content-Aware ReAssembly of FEatures") on standard
PyTorch ops, and mmcv's ``CARAFEPack`` (``upsample_cfg=dict(type='carafe')``).

Keys as mmcv's: ``channel_compressor`` (1×1 conv), ``content_encoder`` (predicts the
reassembly kernels).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.layers.weight_init import normal_init, xavier_init

__all__ = ["CARAFEPack", "carafe"]


def carafe(
    features: torch.Tensor, masks: torch.Tensor, kernel_size: int, group_size: int, scale: int
) -> torch.Tensor:
    """Reassemble ``features`` ``[B, C, H, W]`` into ``[B, C, s·H, s·W]`` (``s = scale``).

    Output pixel ``(y, x)`` is the ``masks``-weighted sum of the ``k × k`` neighbourhood
    (zero-padded) of source pixel ``(y // s, x // s)``:
    ``out[c, y, x] = Σ_{i,j} masks[g·k² + i·k + j, y, x] · features[c, y//s + i - r, x//s + j - r]``
    with ``r = (k - 1) / 2`` and ``g`` the channel's group (``C / group_size`` channels each).

    Args:
        masks: ``[B, group_size · k², s·H, s·W]`` reassembly kernels (normalised by the caller).

    Computed tap by tap: each of the ``k²`` shifted views of ``features`` is multiplied with
    its mask channel at all ``s²`` sub-pixel phases at once, without an unfolded copy.
    """
    batch, channels, height, width = features.shape
    if kernel_size % 2 != 1:
        raise ValueError(f"CARAFE kernel_size must be odd, got {kernel_size}")
    if channels % group_size:
        raise ValueError(f"CARAFE: {channels} channels are not divisible into {group_size} groups")
    expected = (batch, group_size * kernel_size**2, height * scale, width * scale)
    if tuple(masks.shape) != expected:
        raise ValueError(f"CARAFE masks must be {expected}, got {tuple(masks.shape)}")
    radius = (kernel_size - 1) // 2
    padded = F.pad(features, (radius, radius, radius, radius))
    per_group = channels // group_size
    # [B, G, k², H, s, W, s]: the kernel of output (h·s + dy, w·s + dx)
    kernels = masks.view(batch, group_size, kernel_size**2, height, scale, width, scale)
    out = features.new_zeros(batch, group_size, per_group, height, scale, width, scale)
    for tap in range(kernel_size**2):
        i, j = divmod(tap, kernel_size)
        source = padded[:, :, i : i + height, j : j + width]
        source = source.reshape(batch, group_size, per_group, height, 1, width, 1)
        out = out + source * kernels[:, :, tap : tap + 1]
    return out.view(batch, channels, height * scale, width * scale)


class CARAFEPack(nn.Module):
    """Channel compressor → content encoder → softmax-normalised kernels → :func:`carafe`.

    Args:
        channels: ``C`` of the ``[B, C, H, W]`` input.
        scale_factor: upsampling ratio ``s``.
        up_kernel: reassembly kernel size ``k``.
        up_group: groups of channels sharing a kernel.
        encoder_kernel, encoder_dilation: the content encoder's conv.
        compressed_channels: width of the compressed map the kernels are predicted from.

    Output ``[B, C, s·H, s·W]``.
    """

    def __init__(
        self,
        channels: int,
        scale_factor: int,
        up_kernel: int = 5,
        up_group: int = 1,
        encoder_kernel: int = 3,
        encoder_dilation: int = 1,
        compressed_channels: int = 64,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.scale_factor = scale_factor
        self.up_kernel = up_kernel
        self.up_group = up_group
        self.encoder_kernel = encoder_kernel
        self.encoder_dilation = encoder_dilation
        self.compressed_channels = compressed_channels
        self.channel_compressor = nn.Conv2d(channels, compressed_channels, 1)
        self.content_encoder = nn.Conv2d(
            compressed_channels,
            up_kernel * up_kernel * up_group * scale_factor * scale_factor,
            encoder_kernel,
            padding=int((encoder_kernel - 1) * encoder_dilation / 2),
            dilation=encoder_dilation,
        )
        self.init_weights()

    def init_weights(self) -> None:
        """mmcv's: Xavier-uniform convs, then the content encoder Normal(0, 0.001)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution="uniform")
        normal_init(self.content_encoder, std=0.001)

    def kernel_normalizer(self, mask: torch.Tensor) -> torch.Tensor:
        """Encoder output ``[B, G·k²·s², H, W]`` → kernels ``[B, G·k², s·H, s·W]``, each
        kernel softmax-normalised over its ``k²`` taps."""
        mask = F.pixel_shuffle(mask, self.scale_factor)
        batch, channels, height, width = mask.shape
        mask = mask.view(batch, self.up_group, -1, height, width).softmax(dim=2)
        return mask.view(batch, channels, height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.kernel_normalizer(self.content_encoder(self.channel_compressor(x)))
        return carafe(x, mask, self.up_kernel, self.up_group, self.scale_factor)
