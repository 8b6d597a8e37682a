"""CPU capability probe and the policies that take it as input: low precision only where the
CPU computes it natively, NNPACK thresholds per instruction set, thread count and OpenMP wait."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

from detkit.ops import cpu
from detkit.ops.cpu import CpuCapability, cpu_autocast, cpu_autocast_dtype, probe_cpu
from detkit.ops.policy import conv_policy

ZEN4 = CpuCapability(
    isa="AVX512",
    flags=frozenset({"avx2", "avx512f", "avx512_bf16"}),
    model="AMD EPYC 9004",
    cpus=2,
    physical_cores=2,
)
AVX2 = CpuCapability(
    isa="AVX2", flags=frozenset({"avx2", "fma"}), model="AMD EPYC 7002", cpus=2, physical_cores=2
)
SPR = CpuCapability(
    isa="AVX512",
    flags=frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16", "amx_fp16"}),
)
ARM = CpuCapability(isa="DEFAULT", flags=frozenset({"asimd", "bf16"}))


def test_native_low_precision_follows_the_flags_and_a_onednn_cap():
    assert ZEN4.native(torch.bfloat16) and not ZEN4.native(torch.float16)
    assert not AVX2.native(torch.bfloat16) and not AVX2.native(torch.float16)
    assert SPR.native(torch.bfloat16) and SPR.native(torch.float16)
    assert ARM.native(torch.bfloat16)
    capped = CpuCapability(isa="AVX512", flags=ZEN4.flags, onednn_max_isa="avx2")
    assert not capped.native(torch.bfloat16)
    assert CpuCapability(isa="AVX512", flags=ZEN4.flags, onednn_max_isa="avx512_core_bf16").native(
        torch.bfloat16
    )
    assert all(c.native(torch.float32) for c in (ZEN4, AVX2, SPR, ARM))
    assert "native fp32 only" in AVX2.summary() and "native bf16" in ZEN4.summary()
    assert "AMX" in SPR.summary() and "AMX" not in ZEN4.summary()


def test_probe_reads_this_machine():
    cap = probe_cpu()
    assert cap.isa == torch.backends.cpu.get_cpu_capability()
    assert cap.cpus >= 1 and 1 <= cap.physical_cores <= cap.cpus
    assert cap.isa in cap.summary()


def test_emulated_bf16_runs_float32_with_one_warning(monkeypatch):
    monkeypatch.setattr(cpu, "_warned", set())
    with pytest.warns(RuntimeWarning, match="no native torch.bfloat16"):
        assert cpu_autocast_dtype(torch.bfloat16, AVX2) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cpu_autocast_dtype(torch.bfloat16, AVX2) is None  # once only
        assert cpu_autocast_dtype(torch.bfloat16, ZEN4) is torch.bfloat16
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with cpu_autocast(torch.bfloat16, capability=AVX2) as dtype:
        assert dtype is torch.float32 and not torch.is_autocast_enabled("cpu")
        assert conv(x).dtype == torch.float32
    with cpu_autocast(torch.bfloat16, capability=ZEN4) as dtype:
        assert dtype is torch.bfloat16 and torch.is_autocast_enabled("cpu")
        assert conv(x).dtype == torch.bfloat16
    with cpu_autocast(torch.bfloat16, enabled=False, capability=ZEN4) as dtype:
        assert dtype is torch.float32 and not torch.is_autocast_enabled("cpu")


def test_engine_mixed_precision_on_cpu_is_bf16_only_where_native(monkeypatch):
    from detkit.engine.optim.step import GradientStep

    monkeypatch.setattr(cpu, "_warned", set())
    step = GradientStep(loss_scale="dynamic", device_type="cpu")
    native = probe_cpu().native(torch.bfloat16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with step.autocast():
            assert torch.is_autocast_enabled("cpu") == native
    assert any("native" in str(w.message) for w in caught) != native
    with GradientStep(device_type="cpu").autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_conv_policy_per_instruction_set():
    avx512, avx2 = conv_policy(ZEN4), conv_policy(AVX2)
    assert conv_policy(CpuCapability(isa="AVX512", flags=ZEN4.flags, onednn_max_isa="avx2")) == avx2
    assert not conv_policy(ARM).nnpack
    assert not conv_policy(ARM).nnpack_faster(1, 256, 256, 128, 256)
    for policy in (avx512, avx2):
        assert policy.nnpack_faster(1, 256, 256, 128, 256)  # stride-4 FPN level
        assert policy.nnpack_faster(100, 256, 256, 14, 14)  # mask head RoIs
        assert not policy.nnpack_faster(100, 256, 256, 7, 7)
        assert not policy.nnpack_faster(1, 64, 64, 16, 16)  # too little work


def test_gemm_policy_per_instruction_set():
    from detkit.ops.policy import GemmPolicy, gemm_policy

    assert gemm_policy(ZEN4) == GemmPolicy(forward=True, backward=True, winograd=True)
    assert gemm_policy(AVX2) == GemmPolicy(forward=True, backward=True, winograd=False)
    capped = CpuCapability(isa="AVX512", flags=ZEN4.flags, onednn_max_isa="avx2")
    assert gemm_policy(capped) == gemm_policy(AVX2)
    assert gemm_policy(ARM) == GemmPolicy(forward=False, backward=False, winograd=False)


def test_conv_policy_per_thread_count():
    """oneDNN gains more from a second thread than NNPACK on small maps: two threads move the
    single-image crossover up one FPN level on each ISA; RoI batches keep NNPACK."""
    for cap in (ZEN4, AVX2):
        one, two = conv_policy(cap, 1), conv_policy(cap, 2)
        assert conv_policy(cap) == one and conv_policy(cap, 8) == two
        assert one.nnpack_faster(1, 256, 256, 128, 256) and two.nnpack_faster(1, 256, 256, 128, 256)
        assert two.nnpack_faster(100, 256, 256, 14, 14)
    assert conv_policy(ZEN4, 1).nnpack_faster(1, 256, 256, 32, 64)
    assert not conv_policy(ZEN4, 2).nnpack_faster(1, 256, 256, 32, 64)
    assert conv_policy(ZEN4, 2).nnpack_faster(1, 256, 256, 64, 128)
    assert conv_policy(AVX2, 1).nnpack_faster(1, 256, 256, 16, 32)
    assert not conv_policy(AVX2, 2).nnpack_faster(1, 256, 256, 16, 32)
    assert conv_policy(AVX2, 2).nnpack_faster(1, 256, 256, 32, 64)
    # the Winograd kernel gradient: the stride-8 level (8192 pixels) leaves it on AVX-512 at 2
    # threads
    assert conv_policy(ZEN4, 1).weight_grad_min_pixels == 8192
    assert conv_policy(ZEN4, 2).weight_grad_min_pixels == 32768
    assert conv_policy(AVX2, 2).weight_grad_min_pixels == 8192


def test_conv_policy_under_a_bounded_or_passive_wait():
    """Without libgomp's long spin, NNPACK's pool keeps its cores at two threads: the
    single-image crossovers are the one-thread ones (the kernel gradient's stays at two)."""
    for wait in ("bounded", "passive"):
        for cap in (ZEN4, AVX2):
            one, two = conv_policy(cap, 1, wait), conv_policy(cap, 2, wait)
            assert one == conv_policy(cap, 1)  # one thread: the wait does not matter
            assert (two.min_pixels, two.min_work) == (one.min_pixels, one.min_work)
            assert two != conv_policy(cap, 2, "spin")
        assert conv_policy(ZEN4, 2, wait).nnpack_faster(1, 256, 256, 32, 64)
        assert conv_policy(AVX2, 2, wait).nnpack_faster(1, 256, 256, 16, 32)
        assert conv_policy(ZEN4, 2, wait).weight_grad_min_pixels == 32768
        assert not conv_policy(ARM, 2, wait).nnpack


WAIT_SCRIPT = r"""
import torch
from detkit.ops import conv
from detkit.ops.cpu import probe_cpu
from detkit.ops.policy import conv_policy
from detkit.ops.threads import process_openmp_wait
torch.set_num_threads(2)
assert process_openmp_wait() == "{wait}", process_openmp_wait()
assert conv._policy() == conv_policy(probe_cpu(), 2, "{wait}")
print("ok")
"""


@pytest.mark.parametrize("env, wait", [({"GOMP_SPINCOUNT": "3000"}, "bounded"), ({}, "spin")])
def test_convolutions_follow_the_wait_the_process_started_with(env, wait):
    """OpenMP reads its wait settings when torch loads: a fresh interpreter per environment."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = subprocess.run(
        [sys.executable, "-c", WAIT_SCRIPT.replace("{wait}", wait)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(base, PYTHONPATH=root, **env),
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
