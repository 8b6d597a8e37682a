"""The Slurm launcher's environment: host-list expansion, ``scontrol`` with its fallback, rank /
local rank / port precedence, ``init_dist('slurm')`` in one process, and the distributed
sampler seed shared by every rank."""

from __future__ import annotations

import os
import stat

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import detkit
from detkit.data.loaders.builder import build_dataloader
from detkit.data.loaders.samplers import DistributedGroupSampler
from detkit.engine.slurm import expand_hostlist, first_host, slurm_dist_env


@pytest.mark.parametrize(
    "hostlist, hosts",
    [
        ("node[01-04,07]", ["node01", "node02", "node03", "node04", "node07"]),
        ("gpu-a[1-2],gpu-b3", ["gpu-a1", "gpu-a2", "gpu-b3"]),
        ("localhost", ["localhost"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("r[1-2]n[1,3]", ["r1n1", "r1n3", "r2n1", "r2n3"]),
        ("a[009-011],b", ["a009", "a010", "a011", "b"]),
    ],
)
def test_expand_hostlist(hostlist, hosts):
    assert expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize(
    "hostlist, message",
    [
        ("node[01-04", "'\\[' without '\\]'"),
        ("node01]", "'\\]' without '\\['"),
        ("node[a-b]", "bad range 'a-b'"),
        ("node[5-2]", "runs backwards"),
    ],
)
def test_expand_hostlist_errors_name_the_list(hostlist, message):
    with pytest.raises(ValueError, match=message):
        expand_hostlist(hostlist)


def fake_scontrol(directory, body: str) -> str:
    path = os.path.join(directory, "scontrol")
    with open(path, "w") as file:
        file.write(f"#!/bin/sh\n{body}\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def test_first_host_asks_scontrol_then_falls_back(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    fake_scontrol(str(tmp_path), f'echo "$@" >> {calls}\necho cn-renamed-1; echo cn-renamed-2')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert first_host("cn[1-2]") == "cn-renamed-1"  # the cluster's own answer wins
    assert calls.read_text() == "show hostnames cn[1-2]\n"
    fake_scontrol(str(tmp_path), "echo 'scontrol: error: no controller' >&2; exit 1")
    assert first_host("cn[3-4]") == "cn3"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no scontrol at all
    assert first_host("gpu-a[1-2],gpu-b3") == "gpu-a1"


def test_slurm_dist_env_ranks_and_port_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no scontrol: the Python expansion
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_NODELIST": "node[03-04]",
    }
    assert slurm_dist_env(env) == {
        "RANK": "5",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "node03",
        "MASTER_PORT": "29500",
    }
    assert slurm_dist_env(env, port=29601)["MASTER_PORT"] == "29601"  # dist_params.port
    assert slurm_dist_env({**env, "MASTER_PORT": "29700"})["MASTER_PORT"] == "29700"
    assert slurm_dist_env({**env, "MASTER_PORT": "29700"}, port=29601)["MASTER_PORT"] == "29601"
    assert (
        slurm_dist_env({**env, "PORT": "29800"}, port=29601)["MASTER_PORT"] == "29800"
    )  # PORT env first
    assert slurm_dist_env({**env, "MASTER_ADDR": "10.0.0.9"})["MASTER_ADDR"] == "10.0.0.9"
    no_localid = {k: v for k, v in env.items() if k != "SLURM_LOCALID"}
    assert slurm_dist_env({**no_localid, "SLURM_TASKS_PER_NODE": "4(x2)"})["LOCAL_RANK"] == "1"
    assert slurm_dist_env({**no_localid, "SLURM_NTASKS_PER_NODE": "3"})["LOCAL_RANK"] == "2"


@pytest.mark.parametrize(
    "env, error, message",
    [
        (
            {"SLURM_NTASKS": "2", "SLURM_NODELIST": "n1"},
            KeyError,
            "SLURM_PROCID is not set: start the script with srun",
        ),
        (
            {"SLURM_PROCID": "0", "SLURM_NTASKS": "two", "SLURM_NODELIST": "n1"},
            ValueError,
            "SLURM_NTASKS='two'",
        ),
        (
            {"SLURM_PROCID": "2", "SLURM_NTASKS": "2", "SLURM_NODELIST": "n1"},
            ValueError,
            "SLURM_PROCID=2 is outside",
        ),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"}, KeyError, "SLURM_NODELIST is not set"),
        (
            {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "n1", "PORT": "x"},
            ValueError,
            "'x'",
        ),
    ],
)
def test_slurm_dist_env_errors(env, error, message):
    with pytest.raises(error, match=message):
        slurm_dist_env(env)


def test_init_dist_slurm_exports_torch_variables(tmp_path, monkeypatch):
    fake_scontrol(str(tmp_path), "echo 127.0.0.1")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PORT"):
        monkeypatch.setenv(key, "")  # restored by monkeypatch after init_dist overwrites them
        monkeypatch.delenv(key)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_LOCALID", "0")
    monkeypatch.setenv("SLURM_NODELIST", "cn01")
    detkit.init_dist("slurm", backend="gloo", port=_free_port())
    try:
        assert detkit.get_dist_info() == (0, 1)
        assert os.environ["MASTER_ADDR"] == "127.0.0.1" and os.environ["RANK"] == "0"
    finally:
        dist.destroy_process_group()
    with pytest.raises(ValueError, match="launcher 'mpi' is not supported"):
        detkit.init_dist("mpi")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _FlaggedDataset(torch.utils.data.Dataset):
    flag = torch.tensor([0, 1, 0] * 4).numpy()  # groups of 8 and 4: no padding for 2 ranks x 2

    def __len__(self) -> int:
        return len(self.flag)

    def __getitem__(self, index: int) -> int:
        return index


def _sampled_indices(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        loader = build_dataloader(
            _FlaggedDataset(), samples_per_gpu=2, workers_per_gpu=0, dist=True, seed=100 + rank
        )  # --diff-seed: every rank seeds itself differently
        torch.save(list(loader.sampler), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_distributed_sampler_uses_rank_zero_seed(tmp_path):
    mp.spawn(_sampled_indices, args=(_free_port(), str(tmp_path)), nprocs=2)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert len(rank0) == len(rank1) == 6
    assert sorted(rank0 + rank1) == list(
        range(12)
    )  # one shuffle, split: disjoint shards cover the data
    assert rank1 == list(
        DistributedGroupSampler(_FlaggedDataset(), 2, num_replicas=2, rank=1, seed=100)
    )
