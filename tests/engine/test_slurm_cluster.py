"""A real one-node Slurm (Debian's ``slurm-wlm`` + ``munge``) on localhost: munged, slurmctld
and slurmd started from a config in a temporary folder, ``tools/slurm_train.sh`` run as a
2-task job on gloo, everything stopped after. Skipped where the binaries are missing (install
them with ``apt-get install slurm-wlm munge``; ``.ci/run`` does) or not running as root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import torch
from shared_data import in_ci
from test_train_detector import write_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
BINARIES = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol")

SLURM_CONF = """ClusterName=detkit
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/socket
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Environment (``SLURM_CONF``) of a running one-node cluster with partition ``debug``."""
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]
    )  # daemons live in sbin
    found = {name: shutil.which(name, path=search) for name in BINARIES}
    missing = [name for name, path in found.items() if path is None]
    if missing:  # .ci/run installs them: in CI a missing part is a failure
        reason = (
            f"Slurm/munge not installed ({', '.join(missing)} missing): apt-get install slurm-wlm "
            "munge"
        )
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("the local Slurm daemons run as root (SlurmUser=root)")
    directory = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool"):
        (directory / sub).mkdir(mode=0o700)
    key = directory / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    conf = directory / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(dir=directory, ctld_port=free_port(), slurmd_port=free_port())
    )
    client_dir = os.path.dirname(found["srun"])  # srun and scontrol, for the script and its tasks
    env = dict(
        os.environ,
        SLURM_CONF=str(conf),
        PATH=f"{client_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    daemons: list[subprocess.Popen] = []
    try:
        daemons.append(
            subprocess.Popen(
                [
                    found["munged"],
                    "--foreground",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={directory}/munge/socket",
                    f"--pid-file={directory}/munge/pid",
                    f"--log-file={directory}/munged.log",
                    f"--seed-file={directory}/munge/seed",
                ],
                env=env,
            )
        )
        for _ in range(100):  # the socket appears once munged listens
            if (directory / "munge" / "socket").exists():
                break
            time.sleep(0.1)
        daemons.append(subprocess.Popen([found["slurmctld"], "-D", "-f", str(conf)], env=env))
        daemons.append(
            subprocess.Popen([found["slurmd"], "-D", "-f", str(conf), "-N", "localhost"], env=env)
        )
        state = ""
        for _ in range(60):
            sinfo = subprocess.run(
                [found["sinfo"], "-h", "-o", "%t"], env=env, capture_output=True, text=True
            )
            state = sinfo.stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "\n".join(
                (directory / f).read_text()[-2000:]
                for f in ("slurmctld.log", "slurmd.log")
                if (directory / f).exists()
            )
            raise RuntimeError(f"local Slurm did not come up (node state {state!r}):\n{logs}")
        yield env
    finally:
        for process in reversed(daemons):
            _stop(process)


@pytest.mark.slow
def test_slurm_train_sh_runs_a_two_task_job(slurm_cluster, tmp_path):
    config = write_config(
        str(tmp_path),
        extra=(
            "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='DumpRankWeightsHook', "
            "at_iter=2)]\n"
        ),
    )
    work_dir = tmp_path / "slurm"
    env = dict(
        slurm_cluster,
        GPUS="2",
        GPUS_PER_NODE="2",
        CPUS_PER_TASK="1",
        GRES="",
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS="1",
        PYTHONPATH=HERE,
    )
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    result = subprocess.run(
        [
            "bash",
            os.path.join(ROOT, "tools", "slurm_train.sh"),
            "debug",
            "detkit-test",
            config,
            str(work_dir),
            "--seed",
            "0",
            "--cfg-options",
            "runner.max_epochs=1",
            "data.samples_per_gpu=4",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (
        "srun -p debug --job-name=detkit-test --ntasks=2 --ntasks-per-node=2" in result.stderr
    )  # set -x trace
    assert "Distributed training: True (world size 2)" in result.stderr
    rank0 = torch.load(work_dir / "rank0_iter2.pt", weights_only=True)
    rank1 = torch.load(work_dir / "rank1_iter2.pt", weights_only=True)
    for key in (
        k for k in rank0 if not k.startswith("bn.running_") and k != "bn.num_batches_tracked"
    ):
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    names = sorted(os.listdir(work_dir))
    assert [n for n in names if n.endswith(".pth")] == ["epoch_1.pth", "latest.pth"]
    assert len([n for n in names if n.endswith(".log")]) == 1
