"""detkit.engine.launch: DDP training in 2 gloo processes started from Python (what a notebook
cell does) gives the weights of ``tools/dist_train.sh`` with the same seed; a rank killed with
SIGKILL is restarted (the launcher's ``max_restarts``, torchrun's ``--max-restarts 1`` with
``--auto-resume``) and the run ends with an uninterrupted run's weights; a stop request (SIGINT,
the notebook's stop button) leaves a checkpoint that ``auto_resume`` continues from; an
exception on a rank is raised with its traceback. (Detectron2's ``launch()`` and MMDetection
#5913 are where notebooks fail today.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from test_train_cli import train_records
from test_train_detector import write_config

from detkit.checkpoint import read_checkpoint
from detkit.engine.launch import LaunchError, launch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
# 16 images / (2 ranks x 4) = 2 iterations per epoch, 3 epochs; a checkpoint every epoch
EXTRA = "log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([ROOT, HERE]),
        OMP_NUM_THREADS="1",
        PYTHON=sys.executable,
        PORT=str(free_port()),
        **env,
    )
    return subprocess.run(
        args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def assert_same_weights(actual_dir, expected_dir) -> None:
    expected = read_checkpoint(os.path.join(expected_dir, "latest.pth"))
    actual = read_checkpoint(os.path.join(actual_dir, "latest.pth"))
    assert actual["meta"]["iter"] == expected["meta"]["iter"] == 6
    for key, value in expected["state_dict"].items():
        torch.testing.assert_close(actual["state_dict"][key], value, rtol=0, atol=0, msg=key)


def with_hook(tmp_path, name: str, hook: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(
        f"_base_ = './toy_config.py'\ncustom_hooks = [dict(type='NumClassCheckHook'), {hook}]\n"
    )
    return str(path)


@pytest.mark.slow
def test_launch_equals_dist_train_and_restarts_a_killed_rank(tmp_path, capsys, monkeypatch):
    # bit-equal weights across separate runs need the same kernels in every process: stock
    # PyTorch here (the tuner's first measurements may differ between ranks and runs); the
    # thread count is torchrun's default in both (launch sets it as torchrun does)
    monkeypatch.setenv("DETKIT_FAST_KERNELS", "0")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = write_config(str(tmp_path), EXTRA)
    full = launch(config, 2, work_dir=str(tmp_path / "launch"), seed=0, progress=False)
    assert (full.epoch, full.iter, full.stopped, full.restarts) == (3, 6, False, 0)
    printed = capsys.readouterr().out
    assert "detkit - INFO - Epoch [3][2/2]" in printed  # rank 0's log lines shown here
    assert "world size 2" in printed

    script = run(
        [
            "bash",
            os.path.join(ROOT, "tools", "dist_train.sh"),
            config,
            "2",
            "--work-dir",
            str(tmp_path / "dist_train"),
        ]
    )
    assert script.returncode == 0, script.stderr[-4000:]
    assert_same_weights(tmp_path / "launch", tmp_path / "dist_train")
    assert train_records(str(tmp_path / "launch")) == train_records(str(tmp_path / "dist_train"))

    marker = str(tmp_path / "killed_once")
    killing = with_hook(
        tmp_path, "kill", f"dict(type='SigkillOnceHook', at_iter=5, marker={marker!r})"
    )
    restarted = launch(
        killing, 2, work_dir=str(tmp_path / "restart"), seed=0, max_restarts=1, progress=False
    )
    assert os.path.exists(marker) and restarted.restarts == 1
    assert "restarting every rank from the last checkpoint" in capsys.readouterr().out
    assert_same_weights(tmp_path / "restart", tmp_path / "launch")


@pytest.mark.slow
def test_torchrun_max_restarts_resumes_a_killed_rank(tmp_path):
    config = write_config(str(tmp_path), EXTRA)
    marker = str(tmp_path / "killed_once")
    killing = with_hook(
        tmp_path, "kill", f"dict(type='SigkillOnceHook', at_iter=5, marker={marker!r})"
    )
    torchrun = [os.path.join(BIN, "torchrun"), "--standalone", "--nproc_per_node=2"]
    train = [os.path.join(ROOT, "tools", "train.py"), "--launcher", "pytorch", "--seed", "0"]
    full = run([*torchrun, *train, config, "--work-dir", str(tmp_path / "full")])
    assert full.returncode == 0, full.stderr[-4000:]
    restarted = run(
        [
            *torchrun,
            "--max-restarts",
            "1",
            *train,
            killing,
            "--auto-resume",
            "--work-dir",
            str(tmp_path / "restart"),
        ]
    )
    assert restarted.returncode == 0, restarted.stderr[-4000:]
    assert os.path.exists(marker) and "epoch 2, iter 4" in restarted.stderr
    assert_same_weights(tmp_path / "restart", tmp_path / "full")


@pytest.mark.slow
def test_stop_request_leaves_a_checkpoint_auto_resume_continues(tmp_path, capsys):
    config = write_config(str(tmp_path), EXTRA)
    full = launch(config, 2, work_dir=str(tmp_path / "full"), seed=0, progress=False)
    stopping = with_hook(tmp_path, "stop", "dict(type='InterruptParentHook', at_iter=3)")
    stopped = launch(stopping, 2, work_dir=str(tmp_path / "stopped"), seed=0, progress=False)
    assert stopped.stopped and stopped.checkpoint is not None
    out = capsys.readouterr().out
    assert "stopping every rank after this iteration" in out and "is a resume point" in out
    latest = read_checkpoint(str(tmp_path / "stopped" / "latest.pth"))
    assert 3 <= latest["meta"]["iter"] < 6 and len(latest["resume"]["ranks"]) == 2
    resumed = launch(
        config, 2, work_dir=str(tmp_path / "stopped"), seed=0, auto_resume=True, progress=False
    )
    assert (resumed.iter, full.iter) == (6, 6)
    assert_same_weights(tmp_path / "stopped", tmp_path / "full")


def test_an_exception_on_a_rank_is_raised_with_its_traceback(tmp_path):
    config = write_config(
        str(tmp_path), EXTRA + "model = dict(type='ToyDetector', num_classes=3, nan_at_call=2)\n"
    )
    with pytest.raises(
        LaunchError, match=r"(?s)rank \d failed.*Traceback.*loss became infinite or NaN"
    ):
        launch(config, 2, work_dir=str(tmp_path / "nan"), seed=0, progress=False)
