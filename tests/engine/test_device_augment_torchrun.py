"""device_augment under torchrun (2 gloo processes, tools/train.py --device-augment): each rank
augments its own batch with its own draws, and the run logs the losses of the CPU-worker path
(the logged losses are averaged over both ranks, so both ranks saw the CPU path's batches)."""

from __future__ import annotations

import os

import pytest
import torch
from test_device_augment import _config, sample_root  # noqa: F401  (module fixture)
from test_train_cli import BIN, TRAIN, run, train_records


@pytest.mark.slow
def test_torchrun_device_augment_matches_cpu_workers(sample_root, tmp_path):  # noqa: F811
    cfg = _config(
        sample_root,
        tmp_path,
        **{
            "data.workers_per_gpu": 1,
            "log_config.interval": 1,
            "runner": dict(type="EpochBasedRunner", max_epochs=1),
            "total_epochs": 1,
            "data.train.times": 2,
        },
    )
    cfg.custom_imports = dict(imports=["toy_detector"], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type="DumpRankWeightsHook", at_iter=2)]
    config = tmp_path / "tiny_seed.py"
    cfg.dump(str(config))
    logs = {}
    for name, flags in (("cpu", []), ("device", ["--device-augment"])):
        work_dir = tmp_path / name
        result = run(
            [
                os.path.join(BIN, "torchrun"),
                "--standalone",
                "--nproc_per_node=2",
                TRAIN,
                str(config),
                "--launcher",
                "pytorch",
                "--work-dir",
                str(work_dir),
                "--seed",
                "0",
                "--no-validate",
                *flags,
            ]
        )
        assert result.returncode == 0, result.stderr[-4000:]
        logs[name] = train_records(str(work_dir))
        rank0 = torch.load(work_dir / "rank0_iter2.pt", weights_only=True)
        rank1 = torch.load(work_dir / "rank1_iter2.pt", weights_only=True)
        for key in rank0:
            if "running_" not in key and "num_batches" not in key:
                torch.testing.assert_close(
                    rank0[key], rank1[key], rtol=0, atol=0, msg=key
                )  # one DDP model
    assert "device_augment: loaders stop after loading" in result.stderr
    assert (
        list(logs["cpu"]) == list(logs["device"]) == [(1, 1, "train"), (1, 2, "train")]
    )  # 8 images / (2 x 2)
    for key, record in logs["cpu"].items():
        for loss in ("loss_rpn_cls", "loss_rpn_bbox", "loss"):
            assert logs["device"][key][loss] == pytest.approx(record[loss], rel=0.01, abs=1e-3), (
                key,
                loss,
            )
