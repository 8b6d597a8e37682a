"""Thread settings: the main process's count, the OpenMP wait policy reported, and both in
collect_env."""

import pytest
import torch

import detkit
from detkit.ops.cpu import CpuCapability
from detkit.ops.threads import ThreadSettings, configure_threads, default_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configure_threads_sets_torch_and_reports(restore_threads, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    settings = configure_threads(1)
    assert torch.get_num_threads() == 1 and settings.torch_threads == 1
    assert settings.passive_wait and settings.data_worker_threads == 1
    assert "OMP_WAIT_POLICY=PASSIVE" in settings.summary() and "passive" in settings.summary()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert configure_threads().torch_threads == 1  # OMP_NUM_THREADS is the user's choice
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        configure_threads(0)


def test_spin_wait_is_flagged_and_default_threads_counts_physical_cores(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    settings = detkit.thread_settings()
    assert isinstance(settings, ThreadSettings) and not settings.passive_wait
    assert "spin" in settings.summary()
    smt = CpuCapability(isa="AVX2", cpus=16, physical_cores=8)
    assert default_threads(smt) == 8
    assert default_threads(CpuCapability(isa="AVX2", cpus=2, physical_cores=2)) == 2


def test_collect_env_names_the_cpu_and_threads():
    env = detkit.collect_env()
    assert env["CPU"] == detkit.probe_cpu().summary()
    assert torch.backends.cpu.get_cpu_capability() in env["CPU"]
    assert env["threads"].startswith(f"torch threads {torch.get_num_threads()}")
