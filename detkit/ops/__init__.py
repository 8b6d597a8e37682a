"""Kernels behind ordinary module calls: faster CPU convolutions (NNPACK's Winograd, the
Winograd kernel gradient), the GEMM RoIAlign (custom op ``detkit::roi_align``), lazy
``torch.compile`` and memory-format conversion. Model code uses them as it would use
``nn.Conv2d`` / ``torchvision.ops.RoIAlign``; ``bench/kernels.py`` measures them."""

from detkit.ops.compile import LazyCompiled, parse_compile_option
from detkit.ops.conv import Conv2d, ConvTranspose2d, conv2d, conv_transpose2d
from detkit.ops.memory_format import roi_pooling_layout, to_channels_last
from detkit.ops.roi_align import RoIAlign, roi_align

__all__ = [
    "Conv2d",
    "ConvTranspose2d",
    "LazyCompiled",
    "RoIAlign",
    "conv2d",
    "conv_transpose2d",
    "parse_compile_option",
    "roi_align",
    "roi_pooling_layout",
    "to_channels_last",
]
