"""tools/train.py in process: arguments, config post-processing, files in work_dir."""

from __future__ import annotations

import importlib.util
import os

import pytest
from test_train_detector import records, write_config

from detkit.checkpoint import read_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        "detkit_tools_train", os.path.join(ROOT, "tools", "train.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")  # restored after the test
    tool = load_tool()
    args = tool.parse_args(
        [
            "cfg.py",
            "--cfg-options",
            "runner.max_epochs=2",
            "optimizer.lr=0.5",
            "--auto-resume",
            "--launcher",
            "none",
            "--local-rank",
            "1",
            "--diff-seed",
            "--deterministic",
        ]
    )
    assert args.cfg_options == {"runner.max_epochs": 2, "optimizer.lr": 0.5}
    assert args.auto_resume and args.diff_seed and args.deterministic and args.local_rank == 1
    with pytest.raises(ValueError, match="--options and --cfg-options"):
        tool.parse_args(["cfg.py", "--options", "a=1", "--cfg-options", "b=2"])
    with pytest.warns(UserWarning, match="--options is deprecated"):
        assert tool.parse_args(["cfg.py", "--options", "a=1"]).cfg_options == {"a": 1}
    with pytest.raises(SystemExit):
        tool.parse_args(["cfg.py", "--gpus", "2", "--gpu-id", "1"])  # mutually exclusive
    monkeypatch.delenv("LOCAL_RANK")
    tool.parse_args(["cfg.py", "--local_rank", "3"])
    assert os.environ["LOCAL_RANK"] == "3"  # exported for code that reads the env


def test_main_sequence_writes_config_logs_and_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(str(tmp_path))
    runner = load_tool().main(
        [
            config,
            "--seed",
            "3",
            "--no-validate",
            "--auto-scale-lr",
            "--cfg-options",
            "runner.max_epochs=1",
            "auto_scale_lr.base_batch_size=8",
        ]
    )
    work_dir = tmp_path / "work_dirs" / "toy_config"  # default ./work_dirs/<config stem>
    names = sorted(os.listdir(work_dir))
    assert "toy_config.py" in names and "epoch_1.pth" in names and "latest.pth" in names
    assert (
        sum(n.endswith(".log") for n in names) == 1
        and sum(n.endswith(".log.json") for n in names) == 1
    )
    assert "max_epochs=1" in (work_dir / "toy_config.py").read_text()
    meta_line = records(str(work_dir))[0]
    assert (
        meta_line["seed"] == 3
        and meta_line["exp_name"] == "toy_config.py"
        and "PyTorch" in meta_line["env_info"]
    )
    assert "runner = dict(type='EpochBasedRunner', max_epochs=1)" in meta_line["config"]
    assert not any(r.get("mode") == "val" for r in records(str(work_dir)))  # --no-validate
    meta = read_checkpoint(str(work_dir / "latest.pth"))["meta"]
    assert (
        meta["CLASSES"] == ("red", "green", "blue") and meta["detkit_version"] and meta["seed"] == 3
    )
    assert runner.optimizer.param_groups[0]["initial_lr"] == pytest.approx(0.1 * 4 / 8)
