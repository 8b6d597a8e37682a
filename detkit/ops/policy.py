"""Which CPU kernel detkit takes, per instruction set, from the crossovers measured in
``bench/kernels.py``.

NNPACK's Winograd convolution has AVX2 kernels only, whereas oneDNN's direct convolution
doubles its width on AVX-512; so where NNPACK beats oneDNN depends on the ISA.
:func:`conv_policy` maps a :class:`~detkit.ops.cpu.CpuCapability` to the thresholds
:mod:`detkit.ops.conv` applies; the policy is a plain function of the capability, the thread
count and the OpenMP wait (:func:`detkit.ops.threads.openmp_wait`), so any machine's choice can
be asked for (``conv_policy(CpuCapability(isa='AVX2'), threads=2, wait='bounded')``).

At two threads or more the wait matters: under libgomp's default spin (~10 ms) the OpenMP
threads of the previous kernel still spin while NNPACK's own pool runs, taking its cores, so
NNPACK pays only on the larger maps; under a bounded spin (``GOMP_SPINCOUNT=3000``) or passive
wait the two-thread crossovers are the one-thread ones.

Crossovers (``[1, 256, H, W]`` and ``[B, 256, 14, 14]`` 3×3 forward rows of
``python bench/kernels.py --threads 1`` and ``--threads 2``, NNPACK called directly vs oneDNN;
the figures are in the README):

* AVX-512: NNPACK wins on the FPN levels down to ``C_in·C_out·H·W ≈ 2**27`` (single image);
  at two threads under the default spin, down to ``2**29`` (the stride-8 level). RoI batches
  of >= 16 maps of >= 10×10 take NNPACK everywhere; below, oneDNN. The Winograd kernel
  gradient (``conv3x3_weight_grad_*`` rows) pays from 8192 output pixels at one thread, from
  32768 (the stride-4 level) at two.
* AVX2 (or oneDNN capped at AVX2 by ``ONEDNN_MAX_CPU_ISA``): oneDNN's float32 convolution loses
  its 512-bit kernels while NNPACK's (AVX2 only) are unchanged, so NNPACK wins on smaller maps
  too: single image from 512 pixels and ``C_in·C_out·H·W >= 2**25`` (the stride-32 level); at
  two threads under the default spin, from 2048 pixels and ``2**27`` (the stride-16 level).
* No AVX2 (``DEFAULT`` / Arm): NNPACK's portable kernels are not faster; oneDNN only.

More threads than two were not measurable here (2-core machines); they keep the two-thread
thresholds.

The GEMM RoIAlign (:mod:`detkit.ops.roi_align`) measured faster than torchvision's on both
AVX-512 and AVX2, forward and backward, so it has no per-ISA switch.

:func:`gemm_policy` says where linear layers and 1×1 convolutions take oneDNN's matmul instead
of MKL (:mod:`detkit.ops.gemm`; ``gemm_*`` rows of ``bench/kernels.py``, figures in the README):

* AVX-512: oneDNN's 512-bit GEMM beats MKL's (which keeps AVX2 kernels on AMD CPUs) on every
  row, forward and backward.
  The Winograd kernel gradient's products (``conv3x3_weight_grad_*`` rows) too.
* AVX2 (or oneDNN capped at AVX2): oneDNN is as fast or faster on every ``gemm_*`` row, forward
  and backward; the Winograd products stay one batched MKL GEMM (oneDNN was not faster there).
* No AVX2: PyTorch's kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from detkit.ops.cpu import CpuCapability
from detkit.ops.threads import OpenMPWait

__all__ = ["ConvPolicy", "GemmPolicy", "conv_policy", "gemm_policy"]


@dataclass(frozen=True)
class ConvPolicy:
    """Where a float32 NCHW 3×3 stride-1 conv of ``[B, C, H, W]`` takes NNPACK.

    Attributes:
        nnpack: NNPACK is used at all.
        min_batch: ``B`` from which NNPACK's batched algorithm is used (RoI batches).
        min_side: batched: smallest ``min(H, W)``.
        min_pixels: single image: smallest ``H·W``.
        min_work: single image: smallest ``C_in·C_out·H·W``.
        weight_grad_min_pixels: smallest output ``H'·W'`` whose kernel gradient takes
            Winograd's F(4×4, 3×3) (:mod:`detkit.ops.winograd`; 256+ channels).
    """

    nnpack: bool = True
    min_batch: int = 16
    min_side: int = 10
    min_pixels: int = 2048
    min_work: int = 1 << 27
    weight_grad_min_pixels: int = 8192

    def nnpack_faster(
        self, batch: int, in_channels: int, out_channels: int, height: int, width: int
    ) -> bool:
        """NNPACK measured faster than oneDNN for this conv."""
        if not self.nnpack:
            return False
        if batch >= self.min_batch:
            return min(height, width) >= self.min_side
        pixels = height * width
        return pixels >= self.min_pixels and in_channels * out_channels * pixels >= self.min_work


# (one thread, two or more under the default spin, two or more under a bounded/passive wait)
_AVX512 = (
    ConvPolicy(),
    ConvPolicy(min_pixels=8192, min_work=1 << 29, weight_grad_min_pixels=32768),
    ConvPolicy(weight_grad_min_pixels=32768),
)
_AVX2 = (
    ConvPolicy(min_pixels=512, min_work=1 << 25),
    ConvPolicy(),
    ConvPolicy(min_pixels=512, min_work=1 << 25),
)
_PORTABLE = ConvPolicy(nnpack=False)


def _onednn_avx512(capability: CpuCapability) -> bool:
    """oneDNN runs AVX-512 kernels (the CPU has them and ``ONEDNN_MAX_CPU_ISA`` allows them)."""
    cap = capability.onednn_max_isa
    return capability.avx512 and (cap is None or cap == "all" or "512" in cap or "amx" in cap)


def conv_policy(
    capability: CpuCapability, threads: int = 1, wait: OpenMPWait = "spin"
) -> ConvPolicy:
    """The NNPACK thresholds for a CPU with ``capability`` running ``threads`` threads whose
    idle OpenMP threads ``wait`` as :func:`detkit.ops.threads.openmp_wait` says (see the module
    docstring)."""
    row = 0 if threads <= 1 else 1 if wait == "spin" else 2
    if _onednn_avx512(capability):
        return _AVX512[row]
    if capability.isa.upper().startswith("AVX2") or capability.avx512:
        return _AVX2[row]
    return _PORTABLE


@dataclass(frozen=True)
class GemmPolicy:
    """Which float32 products of linear layers and unstrided 1×1 convolutions oneDNN runs.

    Attributes:
        forward: the forward products.
        backward: the gradient products (of layers whose forward oneDNN ran).
        winograd: the 36 products per band of the Winograd kernel gradient
            (:mod:`detkit.ops.winograd`), else one batched MKL GEMM.
    """

    forward: bool = True
    backward: bool = True
    winograd: bool = True


def gemm_policy(capability: CpuCapability) -> GemmPolicy:
    """The oneDNN GEMM choice for a CPU with ``capability`` (see the module docstring)."""
    if _onednn_avx512(capability):
        return GemmPolicy()
    if capability.isa.upper().startswith(("AVX2", "AVX512")):
        return GemmPolicy(winograd=False)
    return GemmPolicy(forward=False, backward=False, winograd=False)
