"""Kernels behind ordinary module calls, chosen by measurement on this machine: NNPACK's
Winograd and the Winograd kernel gradient for 3×3 convolutions, oneDNN matrix products for
linear layers and 1×1 convolutions, memory layouts (ResNet stem, mask-head deconvolution, RoI
mosaic), all timed against PyTorch's own kernels per shape class and cached on disk
(:mod:`detkit.ops.tuner`); the GEMM RoIAlign (custom op ``detkit::roi_align``); lazy
``torch.compile``; the CPU capability probe with the low-precision choice that takes it, and
the thread settings.

``DETKIT_FAST_KERNELS=0`` / :func:`fast_kernels` ``(False)`` runs stock PyTorch everywhere;
:func:`force_kernels` pins choices; :func:`kernel_report` says what was chosen. Model code uses
these as it would use ``nn.Conv2d`` / ``torchvision.ops.RoIAlign``; ``bench/kernels.py``
measures them.
"""

from detkit.ops.compile import LazyCompiled, parse_compile_option
from detkit.ops.conv import Conv2d, ConvTranspose2d, conv2d, conv_transpose2d
from detkit.ops.cpu import CpuCapability, cpu_autocast, cpu_autocast_dtype, probe_cpu
from detkit.ops.gemm import Linear, conv1x1, linear, onednn_matmul
from detkit.ops.memory_format import (
    channels_last_where_faster,
    relayout,
    roi_pooling_layout,
    to_channels_last,
)
from detkit.ops.nnpack import pool_threads as nnpack_pool_threads
from detkit.ops.roi_align import RoIAlign, roi_align
from detkit.ops.roi_mosaic import RoIMosaic, roi_conv_stack
from detkit.ops.scatter import scatter_rows
from detkit.ops.switch import fast_kernels, fast_kernels_enabled, force_kernels
from detkit.ops.threads import ThreadSettings, configure_threads, thread_settings
from detkit.ops.tuner import KernelDecision, kernel_decisions, kernel_report

__all__ = [
    "Conv2d",
    "ConvTranspose2d",
    "CpuCapability",
    "KernelDecision",
    "LazyCompiled",
    "Linear",
    "RoIAlign",
    "RoIMosaic",
    "ThreadSettings",
    "channels_last_where_faster",
    "configure_threads",
    "conv1x1",
    "conv2d",
    "conv_transpose2d",
    "cpu_autocast",
    "cpu_autocast_dtype",
    "fast_kernels",
    "fast_kernels_enabled",
    "force_kernels",
    "kernel_decisions",
    "kernel_report",
    "linear",
    "nnpack_pool_threads",
    "onednn_matmul",
    "parse_compile_option",
    "probe_cpu",
    "relayout",
    "roi_align",
    "roi_conv_stack",
    "roi_pooling_layout",
    "scatter_rows",
    "thread_settings",
    "to_channels_last",
]
