"""Tracker logger hooks (TensorBoard, MLflow, W&B offline): what each wrote, read back with
the library's own reader, equals the JSON log's records."""

from __future__ import annotations

import glob
import json
import os
import struct
import sys

import pytest
from test_train_detector import TOY_CONFIG, records, write_config
from toy_detector import ToyDataset, ToyDetector

import detkit
from detkit.registry import HOOKS, build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ITERS_PER_EPOCH = 4  # 16 toy samples, 4 per batch


def train(tmp_path, hooks: str, epochs: int = 2) -> str:
    """Train the toy config with ``log_config.hooks = [TextLoggerHook, <hooks>]``; the work dir."""
    config = write_config(str(tmp_path), extra=(
        f"log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook'), {hooks}])\n"
        f"runner = dict(type='EpochBasedRunner', max_epochs={epochs})\n"))
    cfg = detkit.Config.fromfile(config)
    cfg.work_dir = str(tmp_path / "work")
    detkit.set_random_seed(0)
    detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, timestamp="20260101_000000",
                          meta={"exp_name": "toy_config.py"})
    return cfg.work_dir


def expected_scalars(work_dir: str) -> dict[tuple[str, int], float]:
    """``{(tag, step): value}`` from the JSON log (the trackers' tag names and steps)."""
    expected = {}
    for record in records(work_dir):
        if "mode" not in record:
            continue
        done = (record["epoch"] - 1) * ITERS_PER_EPOCH + record["iter"]
        step = done if record["mode"] == "train" else record["epoch"] * ITERS_PER_EPOCH + 1  # mmcv
        expected[("learning_rate", step)] = record["lr"]
        for key, value in record.items():
            if key not in ("mode", "epoch", "iter", "lr"):
                expected[(f"{record['mode']}/{key}", step)] = value
    return expected


def assert_matches_json_log(written: dict[tuple[str, int], float], work_dir: str) -> None:
    expected = expected_scalars(work_dir)
    assert {"train/loss", "train/loss_cls", "train/time", "train/data_time", "train/memory", "train/grad_norm",
            "val/accuracy", "learning_rate"} <= {tag for tag, _ in expected}
    assert set(written) == set(expected)
    for key, value in expected.items():  # the JSON log rounds to 5 decimals; TensorBoard keeps float32
        assert written[key] == pytest.approx(value, rel=1e-5, abs=6e-6), key


def test_tensorboard_events_equal_json_log(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    work_dir = train(tmp_path, "dict(type='TensorboardLoggerHook')")
    accumulator = EventAccumulator(os.path.join(work_dir, "tf_logs"))
    accumulator.Reload()
    written = {(tag, event.step): event.value for tag in accumulator.Tags()["scalars"]
               for event in accumulator.Scalars(tag)}
    assert_matches_json_log(written, work_dir)
    assert ("val/accuracy", 2 * ITERS_PER_EPOCH + 1) in written


def test_uncommented_tensorboard_line_of_default_runtime_works(tmp_path):
    runtime = open(os.path.join(ROOT, "configs", "_base_", "default_runtime.py")).read()
    assert "        # dict(type='TensorboardLoggerHook')\n" in runtime
    (tmp_path / "runtime.py").write_text(runtime.replace("# dict(type='TensorboardLoggerHook')",
                                                         "dict(type='TensorboardLoggerHook')"))
    toy = "\n".join(line for line in TOY_CONFIG.splitlines() if not line.startswith(("log_config", "custom_hooks")))
    (tmp_path / "config.py").write_text("_base_ = ['runtime.py']\n" + toy + "\nrunner = dict(type='EpochBasedRunner', max_epochs=1)\n")
    cfg = detkit.Config.fromfile(str(tmp_path / "config.py"))
    assert [h["type"] for h in cfg.log_config.hooks] == ["TextLoggerHook", "TensorboardLoggerHook"]
    cfg.work_dir = str(tmp_path / "work")
    detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, timestamp="20260101_000000")
    assert len(glob.glob(str(tmp_path / "work" / "tf_logs" / "events.out.tfevents.*"))) == 1
    assert_matches_json_log(_tensorboard_scalars(cfg.work_dir), cfg.work_dir)


def _tensorboard_scalars(work_dir: str) -> dict[tuple[str, int], float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(os.path.join(work_dir, "tf_logs"))
    accumulator.Reload()
    return {(tag, e.step): e.value for tag in accumulator.Tags()["scalars"] for e in accumulator.Scalars(tag)}


def test_mlflow_store_equals_json_log(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work_dir = train(tmp_path, "dict(type='MlflowLoggerHook', exp_name='toy', tags=dict(variant='a'))", epochs=1)
    client = mlflow.MlflowClient(f"sqlite:///{work_dir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert run.data.tags["variant"] == "a" and run.info.status == "FINISHED"
    written = {(key, m.step): m.value for key in run.data.metrics
               for m in client.get_metric_history(run.info.run_id, key)}
    assert_matches_json_log(written, work_dir)
    (artifact,) = client.list_artifacts(run.info.run_id, "models")
    assert artifact.path == "models/latest.pth"
    local = client.download_artifacts(run.info.run_id, "models/latest.pth", str(tmp_path))
    model = ToyDetector()
    detkit.load_checkpoint(model, local)  # the final weights, loadable as a detkit/mmdet checkpoint


def read_wandb_records(path: str) -> list:
    """The records of a ``run-*.wandb`` file: W&B's LevelDB-log framing (7-byte header
    ``:W&B``, magic 0xBEE1, version; 32 KiB blocks of ``crc32, length, type`` chunks) around
    ``wandb_internal_pb2.Record`` messages."""
    from wandb.proto import wandb_internal_pb2

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    out, chunks, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            out.append(record)
            chunks = b""
        if kind == 0 and length == 0:
            break
    return out


def test_wandb_offline_run_equals_json_log(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    work_dir = train(tmp_path, "dict(type='MMDetWandbHook', init_kwargs=dict(project='toy'), log_checkpoint=True, "
                               "num_eval_images=0)")
    (run_file,) = glob.glob(os.path.join(work_dir, "wandb", "offline-run-*", "run-*.wandb"))
    written, artifacts = {}, []
    for record in read_wandb_records(run_file):
        if record.HasField("history"):
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            for key, value in row.items():
                if not key.startswith("_"):
                    written[(key, row["_step"])] = value
        if record.HasField("artifact"):
            artifacts.append((record.artifact.type, record.artifact.name))
    assert_matches_json_log(written, work_dir)
    assert artifacts.count(("model", artifacts[0][1])) == 2 and ("logs", artifacts[-1][1]) in artifacts


@pytest.mark.parametrize("hook,extra", [("MlflowLoggerHook", "mlflow"), ("WandbLoggerHook", "wandb"),
                                        ("MMDetWandbHook", "wandb")])
def test_missing_extra_names_it(monkeypatch, hook, extra):
    monkeypatch.setitem(sys.modules, extra, None)  # as if the package were not installed
    with pytest.raises(ImportError, match=rf"{hook} needs the '{extra}' package: pip install 'detkit\[{extra}\]'"):
        build(dict(type=hook), HOOKS)
