"""Kernels behind ordinary module calls: faster CPU convolutions (NNPACK's Winograd, the
Winograd kernel gradient), oneDNN matrix products for linear layers and 1×1 convolutions, the GEMM
RoIAlign (custom op ``detkit::roi_align``), lazy
``torch.compile`` and memory-format conversion; the CPU capability probe with the policies
that take it (low precision only where native, NNPACK thresholds per ISA) and the thread
settings. Model code uses them as it would use
``nn.Conv2d`` / ``torchvision.ops.RoIAlign``; ``bench/kernels.py`` measures them."""

from detkit.ops.compile import LazyCompiled, parse_compile_option
from detkit.ops.conv import (
    Conv2d,
    ConvTranspose2d,
    conv2d,
    conv_transpose2d,
    nnpack_mosaic,
    nnpack_pool_threads,
)
from detkit.ops.cpu import CpuCapability, cpu_autocast, cpu_autocast_dtype, probe_cpu
from detkit.ops.gemm import Linear, conv1x1, linear, onednn_matmul
from detkit.ops.memory_format import relayout, roi_pooling_layout, to_channels_last
from detkit.ops.policy import ConvPolicy, GemmPolicy, conv_policy, gemm_policy
from detkit.ops.roi_align import RoIAlign, roi_align
from detkit.ops.roi_mosaic import RoIMosaic
from detkit.ops.threads import ThreadSettings, configure_threads, thread_settings

__all__ = [
    "Conv2d",
    "ConvPolicy",
    "ConvTranspose2d",
    "CpuCapability",
    "GemmPolicy",
    "LazyCompiled",
    "Linear",
    "RoIAlign",
    "RoIMosaic",
    "ThreadSettings",
    "configure_threads",
    "conv1x1",
    "conv2d",
    "conv_policy",
    "conv_transpose2d",
    "cpu_autocast",
    "cpu_autocast_dtype",
    "gemm_policy",
    "linear",
    "nnpack_mosaic",
    "nnpack_pool_threads",
    "onednn_matmul",
    "parse_compile_option",
    "probe_cpu",
    "relayout",
    "roi_align",
    "roi_pooling_layout",
    "thread_settings",
    "to_channels_last",
]
