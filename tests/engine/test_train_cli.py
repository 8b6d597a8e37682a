"""tools/train.py as real subprocesses: kill -9 mid-run then --auto-resume equals an
uninterrupted run; 2-process DDP on gloo via torchrun keeps ranks in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_train_detector import write_config

from detkit.checkpoint import read_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "tools", "train.py")
BIN = os.path.dirname(sys.executable)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # this checkout's detkit first (not whichever one the environment has installed), then
    # toy_detector
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([ROOT, os.path.dirname(os.path.abspath(__file__))]),
        OMP_NUM_THREADS="1",
    )
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kwargs
    )


def train_records(work_dir: str) -> dict[tuple[int, int, str], dict]:
    """Logged records keyed by (epoch, iter, mode), without timings; later runs overwrite."""
    found = {}
    for name in sorted(os.listdir(work_dir)):
        if name.endswith(".log.json"):
            with open(os.path.join(work_dir, name)) as file:
                for line in file:
                    record = json.loads(line)
                    if "mode" in record:
                        key = (record["epoch"], record["iter"], record["mode"])
                        found[key] = {
                            k: v for k, v in record.items() if k not in ("time", "data_time")
                        }
    return found


@pytest.mark.slow
def test_sigkill_mid_run_then_auto_resume_matches_uninterrupted(tmp_path):
    config = write_config(str(tmp_path))
    killing = tmp_path / "toy_config_killed.py"
    killing.write_text(
        "_base_ = './toy_config.py'\n"
        "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='SigkillAtIterHook', "
        "at_iter=7)]\n"
    )
    common = ["--seed", "0", "--cfg-options", "data.workers_per_gpu=1"]
    full = run([sys.executable, TRAIN, config, "--work-dir", str(tmp_path / "full"), *common])
    assert full.returncode == 0, full.stderr[-3000:]

    killed = run(
        [sys.executable, TRAIN, str(killing), "--work-dir", str(tmp_path / "resumed"), *common]
    )
    assert killed.returncode == -9, killed.stderr[
        -3000:
    ]  # SIGKILL in epoch 2 (iteration 7 of 4 per epoch)
    assert os.readlink(tmp_path / "resumed" / "latest.pth") == "epoch_1.pth"
    assert read_checkpoint(str(tmp_path / "resumed" / "latest.pth"))["meta"]["iter"] == 4
    assert not [p for p in os.listdir(tmp_path / "resumed") if p.endswith(".tmp")]

    resumed = run(
        [
            sys.executable,
            TRAIN,
            config,
            "--work-dir",
            str(tmp_path / "resumed"),
            "--auto-resume",
            *common,
        ]
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and "epoch 1, iter 4" in resumed.stderr

    expected = read_checkpoint(str(tmp_path / "full" / "latest.pth"))
    actual = read_checkpoint(str(tmp_path / "resumed" / "latest.pth"))
    assert (
        (actual["meta"]["epoch"], actual["meta"]["iter"])
        == (expected["meta"]["epoch"], expected["meta"]["iter"])
        == (3, 12)
    )
    for key, value in expected["state_dict"].items():
        torch.testing.assert_close(actual["state_dict"][key], value, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(
        actual["optimizer"]["state"], expected["optimizer"]["state"], rtol=0, atol=0
    )
    full_log, resumed_log = (
        train_records(str(tmp_path / "full")),
        train_records(str(tmp_path / "resumed")),
    )
    assert len(full_log) == 9  # 2 train lines + 1 val line per epoch
    assert resumed_log == full_log


@pytest.mark.slow
def test_torchrun_two_gloo_processes_keep_identical_weights(tmp_path):
    config = write_config(
        str(tmp_path),
        extra=(
            "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='DumpRankWeightsHook', "
            "at_iter=1)]\n"
            "sync_bn = True\n"
        ),
    )
    work_dir = tmp_path / "ddp"
    result = run(
        [
            os.path.join(BIN, "torchrun"),
            "--standalone",
            "--nproc_per_node=2",
            TRAIN,
            config,
            "--launcher",
            "pytorch",
            "--work-dir",
            str(work_dir),
            "--seed",
            "0",
            "--cfg-options",
            "runner.max_epochs=2",
            "data.samples_per_gpu=2",
        ]
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rank0 = torch.load(work_dir / "rank0_iter1.pt", weights_only=True)
    rank1 = torch.load(work_dir / "rank1_iter1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    parameters = [
        k for k in rank0 if not k.startswith("bn.running_") and k != "bn.num_batches_tracked"
    ]
    assert len(parameters) == 6
    for key in parameters:  # gradients were all-reduced: the same step on both ranks
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    # per-process BatchNorm statistics differ: the ranks trained on different images
    assert not torch.equal(rank0["bn.running_mean"], rank1["bn.running_mean"])
    names = sorted(os.listdir(work_dir))
    assert [n for n in names if n.endswith(".pth")] == ["epoch_1.pth", "epoch_2.pth", "latest.pth"]
    assert len([n for n in names if n.endswith(".log")]) == 1  # rank 0 logs only
    records = train_records(str(work_dir))
    val = [(k, r["accuracy"]) for k, r in records.items() if k[2] == "val"]
    assert [k for k, _ in val] == [
        (1, 4, "val"),
        (2, 4, "val"),
    ]  # iter = this rank's val loader length (mmcv)
    assert all(
        float(acc * 8).is_integer() for _, acc in val
    )  # scored on the 8 images gathered from both ranks
    assert [k[:2] for k in records if k[2] == "train"] == [
        (1, 2),
        (1, 4),
        (2, 2),
        (2, 4),
    ]  # 16 / (2 ranks x 2)
    assert "SyncBN needs CUDA" in result.stderr


@pytest.mark.slow
def test_torchrun_sigkill_then_auto_resume_restores_every_ranks_rng(tmp_path):
    # --diff-seed and in-process loading (workers_per_gpu=0): each rank draws its images' noise
    # from its own NumPy stream, so a resume that put rank 0's RNG state on rank 1 would train on
    # other images. The checkpoint is written mid-epoch (iteration 3 of 2 per epoch), so both the
    # epoch-start and the save-time states are replayed.
    config = write_config(
        str(tmp_path), extra="checkpoint_config = dict(interval=3, by_epoch=False)\n"
    )
    killing = tmp_path / "toy_config_killed.py"
    killing.write_text(
        "_base_ = './toy_config.py'\n"
        "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='SigkillAtIterHook', "
        "at_iter=5)]\n"
    )
    torchrun = [os.path.join(BIN, "torchrun"), "--standalone", "--nproc_per_node=2", TRAIN]
    common = [
        "--launcher",
        "pytorch",
        "--seed",
        "0",
        "--diff-seed",
        "--no-validate",
        "--cfg-options",
        "data.workers_per_gpu=0",
    ]
    full = run([*torchrun, config, "--work-dir", str(tmp_path / "full"), *common])
    assert full.returncode == 0, full.stderr[-4000:]
    killed = run([*torchrun, str(killing), "--work-dir", str(tmp_path / "resumed"), *common])
    assert killed.returncode != 0
    assert os.readlink(tmp_path / "resumed" / "latest.pth") == "iter_3.pth"
    saved = read_checkpoint(str(tmp_path / "resumed" / "latest.pth"))["resume"]
    assert len(saved["ranks"]) == 2 and saved["inner_iter"] == 1
    assert not torch.equal(
        saved["ranks"][0]["rng"]["numpy"][1], saved["ranks"][1]["rng"]["numpy"][1]
    )

    resumed = run(
        [*torchrun, config, "--work-dir", str(tmp_path / "resumed"), "--auto-resume", *common]
    )
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "epoch 1, iter 3" in resumed.stderr
    expected = read_checkpoint(str(tmp_path / "full" / "latest.pth"))
    actual = read_checkpoint(str(tmp_path / "resumed" / "latest.pth"))
    assert actual["meta"]["iter"] == expected["meta"]["iter"] == 6
    for key, value in expected["state_dict"].items():
        torch.testing.assert_close(actual["state_dict"][key], value, rtol=0, atol=0, msg=key)
