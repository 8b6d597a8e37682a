"""tools/train.py and tools/test.py under the cluster launchers, as real processes on gloo:
``--launcher slurm`` with the environment ``srun -n 2`` gives its tasks (and a fake
``scontrol`` on PATH), a requeued Slurm job continuing with ``--auto-resume``, and
``tools/dist_train.sh`` / ``tools/dist_test.sh`` (torchrun) with 2 processes on one node."""

from __future__ import annotations

import os
import pickle
import socket
import stat
import subprocess
import sys

import pytest
import torch
from test_train_cli import train_records
from test_train_detector import write_config

from detkit.checkpoint import read_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(ROOT, "tools", "train.py")
TEST = os.path.join(ROOT, "tools", "test.py")
TORCH_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "PORT",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in TORCH_VARS and not k.startswith("SLURM_")
    }
    env.update(PYTHONPATH=os.pathsep.join([ROOT, HERE]), OMP_NUM_THREADS="1", **extra)
    return env


@pytest.fixture
def fake_scontrol(tmp_path):
    """A ``scontrol`` on PATH that logs its arguments and answers ``show hostnames`` as the
    real one does for a one-node job on this machine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    script = bin_dir / "scontrol"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1 $2" = "show hostnames" ] || exit 1\n'
        'echo "$3" | tr , "\\n"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir, calls


def srun_two_tasks(args: list[str], bin_dir, port: int) -> list[subprocess.CompletedProcess]:
    """Start ``python ARGS`` twice with the variables ``srun -n 2`` sets on one node; wait."""
    env = base_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PORT=str(port))
    slurm = {
        "SLURM_JOB_ID": "4242",
        "SLURM_JOBID": "4242",
        "SLURM_STEP_ID": "0",
        "SLURM_NTASKS": "2",
        "SLURM_NPROCS": "2",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
        "SLURM_JOB_NODELIST": "localhost",
        "SLURM_STEP_NODELIST": "localhost",
        "SLURM_TASKS_PER_NODE": "2",
        "SLURM_STEP_TASKS_PER_NODE": "2",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_CPUS_PER_TASK": "1",
        "SLURMD_NODENAME": "localhost",
    }
    tasks = [
        subprocess.Popen(
            [sys.executable, "-u", *args],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, **slurm, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)},
        )
        for r in range(2)
    ]
    done = []
    for task in tasks:
        stdout, stderr = task.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(task.args, task.returncode, stdout, stderr))
    return done


def ddp_config(tmp_path, extra: str = "") -> str:
    return write_config(
        str(tmp_path),
        extra=(
            "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='DumpRankWeightsHook', "
            "at_iter=2)]\n"
            "auto_scale_lr = dict(enable=True, base_batch_size=4)\n" + extra
        ),
    )


COMMON = [
    "--seed",
    "0",
    "--auto-resume",
    "--cfg-options",
    "runner.max_epochs=2",
    "data.samples_per_gpu=4",
]


def assert_same_step_on_both_ranks(work_dir) -> None:
    rank0 = torch.load(work_dir / "rank0_iter2.pt", weights_only=True)
    rank1 = torch.load(work_dir / "rank1_iter2.pt", weights_only=True)
    parameters = [
        k for k in rank0 if not k.startswith("bn.running_") and k != "bn.num_batches_tracked"
    ]
    assert len(parameters) == 6
    for key in parameters:  # gradients were all-reduced: the same 2 steps on both ranks
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    assert not torch.equal(rank0["bn.running_mean"], rank1["bn.running_mean"])  # different images


@pytest.mark.slow
def test_slurm_launcher_two_tasks_then_requeue_with_auto_resume(tmp_path, fake_scontrol):
    bin_dir, calls = fake_scontrol
    config = ddp_config(tmp_path)
    full = tmp_path / "full"
    results = srun_two_tasks(
        [TRAIN, config, "--launcher", "slurm", "--work-dir", str(full), *COMMON],
        bin_dir,
        free_port(),
    )
    assert [r.returncode for r in results] == [0, 0], (
        results[0].stderr[-3000:] + results[1].stderr[-3000:]
    )
    assert (
        calls.read_text() == "show hostnames localhost\n" * 2
    )  # MASTER_ADDR asked of scontrol by each task
    assert_same_step_on_both_ranks(full)
    names = sorted(os.listdir(full))
    assert [n for n in names if n.endswith(".pth")] == ["epoch_1.pth", "epoch_2.pth", "latest.pth"]
    assert len([n for n in names if n.endswith(".log")]) == 1  # rank 0 writes the only log
    assert "Distributed training: True (world size 2)" in results[0].stderr
    assert results[1].stderr == ""  # ranks > 0 log errors only
    # auto_scale_lr from the real world size: 2 tasks x 4 images vs base 4 -> lr 0.1 x 2
    assert "auto_scale_lr: total batch 8 vs base 4: lr -> 0.2" in results[0].stderr
    records = train_records(str(full))
    assert [k[:2] for k in records if k[2] == "train"] == [
        (1, 2),
        (2, 2),
    ]  # 16 images / (2 x 4) per epoch
    assert records[(1, 2, "train")]["lr"] == pytest.approx(
        0.2 * (1 - (1 - 1 / 4) * 0.9)
    )  # scaled warmup

    # a requeued job re-runs its command: killed mid-epoch 2, it continues from epoch_1.pth
    killing = tmp_path / "toy_config_killed.py"
    killing.write_text(
        "_base_ = './toy_config.py'\ncustom_hooks = [dict(type='NumClassCheckHook'), "
        "dict(type='SigkillAtIterHook', at_iter=3)]\n"
    )
    requeued = tmp_path / "requeued"
    killed = srun_two_tasks(
        [TRAIN, str(killing), "--launcher", "slurm", "--work-dir", str(requeued), *COMMON],
        bin_dir,
        free_port(),
    )
    assert [r.returncode for r in killed] == [-9, -9], killed[0].stderr[-3000:]
    assert os.readlink(requeued / "latest.pth") == "epoch_1.pth"
    again = srun_two_tasks(
        [TRAIN, config, "--launcher", "slurm", "--work-dir", str(requeued), *COMMON],
        bin_dir,
        free_port(),
    )
    assert [r.returncode for r in again] == [0, 0], (
        again[0].stderr[-3000:] + again[1].stderr[-3000:]
    )
    assert "resumed from" in again[0].stderr and "epoch 1, iter 2" in again[0].stderr
    expected = read_checkpoint(str(full / "latest.pth"))
    actual = read_checkpoint(str(requeued / "latest.pth"))
    assert (actual["meta"]["epoch"], actual["meta"]["iter"]) == (
        expected["meta"]["epoch"],
        expected["meta"]["iter"],
    )
    for key, value in expected["state_dict"].items():  # the same run as the uninterrupted job
        torch.testing.assert_close(actual["state_dict"][key], value, rtol=0, atol=0, msg=key)

    # tools/test.py --launcher slurm gathers both tasks' results and evaluates on rank 0
    tested = srun_two_tasks(
        [
            TEST,
            config,
            str(full / "latest.pth"),
            "--launcher",
            "slurm",
            "--eval",
            "accuracy",
            "--out",
            str(tmp_path / "results.pkl"),
        ],
        bin_dir,
        free_port(),
    )
    assert [r.returncode for r in tested] == [0, 0], (
        tested[0].stderr[-3000:] + tested[1].stderr[-3000:]
    )
    assert "'accuracy'" in tested[0].stdout and tested[1].stdout == ""
    assert (
        len(pickle.loads((tmp_path / "results.pkl").read_bytes())) == 8
    )  # dataset order, padding dropped


@pytest.mark.slow
def test_dist_train_and_dist_test_scripts_two_processes_on_one_node(tmp_path):
    config = ddp_config(tmp_path)
    work_dir = tmp_path / "ddp"
    env = base_env(PYTHON=sys.executable, PORT=str(free_port()))
    train = subprocess.run(
        [
            "bash",
            os.path.join(ROOT, "tools", "dist_train.sh"),
            config,
            "2",
            "--work-dir",
            str(work_dir),
            *COMMON[2:],
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr[-4000:]
    assert_same_step_on_both_ranks(work_dir)
    assert "Set random seed to 0" in train.stderr  # the script's --seed 0
    assert "auto_scale_lr: total batch 8 vs base 4: lr -> 0.2" in train.stderr
    env["PORT"] = str(free_port())
    test = subprocess.run(
        [
            "bash",
            os.path.join(ROOT, "tools", "dist_test.sh"),
            config,
            str(work_dir / "latest.pth"),
            "2",
            "--eval",
            "accuracy",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert test.returncode == 0, test.stderr[-4000:]
    assert test.stdout.count("'accuracy'") == 1  # evaluated once, on rank 0
