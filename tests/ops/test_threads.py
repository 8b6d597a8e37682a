"""Thread settings: the main process's count, the OpenMP wait policy reported, and both in
collect_env."""

import os
import subprocess
import sys

import pytest
import torch

import detkit
from detkit.ops.cpu import CpuCapability
from detkit.ops.threads import (
    BOUNDED_WAIT_ENV,
    ThreadSettings,
    configure_threads,
    default_threads,
    openmp_wait,
)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configure_threads_sets_torch_and_reports(restore_threads, monkeypatch):
    monkeypatch.setenv("GOMP_SPINCOUNT", "3000")
    settings = configure_threads(1)
    assert torch.get_num_threads() == 1 and settings.torch_threads == 1
    assert settings.openmp_wait == "bounded" and settings.data_worker_threads == 1
    assert "GOMP_SPINCOUNT=3000" in settings.summary()
    assert settings.summary().endswith("OpenMP wait: bounded")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert configure_threads().torch_threads == 1  # OMP_NUM_THREADS is the user's choice
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        configure_threads(0)


def test_spin_wait_is_flagged_and_default_threads_counts_physical_cores(monkeypatch):
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"):
        monkeypatch.delenv(name, raising=False)
    settings = detkit.thread_settings()
    assert isinstance(settings, ThreadSettings) and settings.openmp_wait == "spin"
    assert "OpenMP wait: spin (set GOMP_SPINCOUNT=3000" in settings.summary()
    smt = CpuCapability(isa="AVX2", cpus=16, physical_cores=8)
    assert default_threads(smt) == 8
    assert default_threads(CpuCapability(isa="AVX2", cpus=2, physical_cores=2)) == 2


@pytest.mark.parametrize(
    "env, wait",
    [
        ({}, "spin"),
        ({"OMP_WAIT_POLICY": "passive"}, "passive"),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "spin"),
        (BOUNDED_WAIT_ENV, "bounded"),
        ({"GOMP_SPINCOUNT": "30k"}, "bounded"),
        ({"GOMP_SPINCOUNT": "300000"}, "spin"),
        ({"GOMP_SPINCOUNT": "1M"}, "spin"),
        ({"GOMP_SPINCOUNT": "infinite"}, "spin"),
        ({"GOMP_SPINCOUNT": "0"}, "passive"),
        # libgomp: GOMP_SPINCOUNT over OMP_WAIT_POLICY
        ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "300000"}, "spin"),
        ({"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "3000"}, "bounded"),
    ],
)
def test_openmp_wait_reads_the_environment_as_libgomp_does(env, wait):
    assert openmp_wait(env) == wait


def test_collect_env_names_the_cpu_and_threads():
    env = detkit.engine.collect_env()
    assert env["CPU"] == detkit.probe_cpu().summary()
    assert torch.backends.cpu.get_cpu_capability() in env["CPU"]
    assert env["threads"].startswith(f"torch threads {torch.get_num_threads()}")


NNPACK_POOL_SCRIPT = r"""
import warnings
import torch
import torch.nn.functional as F
from torch.profiler import profile
from detkit.ops import Conv2d, force_kernels, nnpack_pool_threads

def nnpack_calls(conv, x):
    with torch.no_grad(), profile() as prof:
        out = conv(x)
    name = "aten::_nnpack_spatial_convolution"
    return out, sum(e.count for e in prof.key_averages() if e.key == name)

force_kernels(conv3x3="nnpack")
torch.set_num_threads(1)
torch.manual_seed(0)
conv = Conv2d(64, 64, 3, padding=1).eval()
x = torch.randn(1, 64, 32, 64)
assert nnpack_pool_threads() is None
_, calls = nnpack_calls(conv, x)
assert torch._nnpack_available() and calls == 1, calls
assert nnpack_pool_threads() == 1, nnpack_pool_threads()
torch.set_num_threads(2)  # NNPACK's pool keeps its one thread: oneDNN follows the new count
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out, calls = nnpack_calls(conv, x)
    nnpack_calls(conv, x)
assert calls == 0, calls
messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
assert len(messages) == 1 and "created with 1 thread(s)" in messages[0], messages
ref = F.conv2d(x, conv.weight, conv.bias, padding=1)
torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
torch.set_num_threads(1)  # back to the pool's size: NNPACK again
assert nnpack_calls(conv, x)[1] == 1
print("ok")
"""


def test_nnpack_runs_only_at_the_thread_count_its_pool_was_created_with():
    # PyTorch sizes NNPACK's pool once, at the first NNPACK convolution of the process: a fresh
    # interpreter, since this test process may have run NNPACK convolutions already
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = subprocess.run(
        [sys.executable, "-c", NNPACK_POOL_SCRIPT],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=root),
        timeout=300,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
