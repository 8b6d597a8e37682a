"""CPU capability probe and the policy that takes it as input (low precision only where the
CPU computes it natively); the kernel cache kept apart per OpenMP wait."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

from detkit.ops import cpu
from detkit.ops.cpu import CpuCapability, cpu_autocast, cpu_autocast_dtype, probe_cpu

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


WAIT_SCRIPT = r"""
from detkit.ops import tuning_cache
print(tuning_cache.fingerprint()["openmp_wait"], tuning_cache.cache_file().name)
"""


def test_kernel_decisions_are_kept_apart_per_openmp_wait():
    """OpenMP reads its wait settings when torch loads (a fresh interpreter per environment);
    the measured kernel choices depend on it, so each wait has its own cache file."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    seen = {}
    for env, wait in (({"GOMP_SPINCOUNT": "3000"}, "bounded"), ({}, "spin")):
        run = subprocess.run(
            [sys.executable, "-c", WAIT_SCRIPT],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(base, PYTHONPATH=root, **env),
        )
        assert run.returncode == 0, run.stderr[-3000:]
        got_wait, name = run.stdout.split()
        assert got_wait == wait
        seen[wait] = name
    assert seen["bounded"] != seen["spin"]
