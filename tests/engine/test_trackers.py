"""Tracker logger hooks (TensorBoard, MLflow, W&B offline): what each wrote, read back with
the library's own reader, equals the JSON log's records."""

from __future__ import annotations

import glob
import json
import os
import struct
import sys
import time

import numpy as np
import pytest
from test_train_detector import TOY_CONFIG, records, write_config
from toy_detector import ToyDataset, ToyDetector

import detkit
from detkit.registry import HOOKS, build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ITERS_PER_EPOCH = 4  # 16 toy samples, 4 per batch


def train(tmp_path, hooks: str, epochs: int = 2) -> str:
    """Train the toy config with ``log_config.hooks = [TextLoggerHook, <hooks>]``; the work dir."""
    config = write_config(
        str(tmp_path),
        extra=(
            f"log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook'), {hooks}])\n"
            f"runner = dict(type='EpochBasedRunner', max_epochs={epochs})\n"
        ),
    )
    cfg = detkit.Config.fromfile(config)
    cfg.work_dir = str(tmp_path / "work")
    detkit.set_random_seed(0)
    detkit.train_detector(
        ToyDetector(),
        ToyDataset(16),
        cfg,
        timestamp="20260101_000000",
        meta={"exp_name": "toy_config.py"},
    )
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
    assert {
        "train/loss",
        "train/loss_cls",
        "train/time",
        "train/data_time",
        "train/memory",
        "train/grad_norm",
        "val/accuracy",
        "learning_rate",
    } <= {tag for tag, _ in expected}
    assert set(written) == set(expected)
    for (
        key,
        value,
    ) in expected.items():  # the JSON log rounds to 5 decimals; TensorBoard keeps float32
        assert written[key] == pytest.approx(value, rel=1e-5, abs=6e-6), key


def test_tensorboard_events_equal_json_log(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    work_dir = train(tmp_path, "dict(type='TensorboardLoggerHook')")
    accumulator = EventAccumulator(os.path.join(work_dir, "tf_logs"))
    accumulator.Reload()
    written = {
        (tag, event.step): event.value
        for tag in accumulator.Tags()["scalars"]
        for event in accumulator.Scalars(tag)
    }
    assert_matches_json_log(written, work_dir)
    assert ("val/accuracy", 2 * ITERS_PER_EPOCH + 1) in written


def test_uncommented_tensorboard_line_of_default_runtime_works(tmp_path):
    runtime = open(os.path.join(ROOT, "configs", "_base_", "default_runtime.py")).read()
    assert "        # dict(type='TensorboardLoggerHook')\n" in runtime
    (tmp_path / "runtime.py").write_text(
        runtime.replace(
            "# dict(type='TensorboardLoggerHook')", "dict(type='TensorboardLoggerHook')"
        )
    )
    toy = "\n".join(
        line
        for line in TOY_CONFIG.splitlines()
        if not line.startswith(("log_config", "custom_hooks"))
    )
    (tmp_path / "config.py").write_text(
        "_base_ = ['runtime.py']\n"
        + toy
        + "\nrunner = dict(type='EpochBasedRunner', max_epochs=1)\n"
    )
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
    return {
        (tag, e.step): e.value
        for tag in accumulator.Tags()["scalars"]
        for e in accumulator.Scalars(tag)
    }


def test_mlflow_store_equals_json_log(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work_dir = train(
        tmp_path, "dict(type='MlflowLoggerHook', exp_name='toy', tags=dict(variant='a'))", epochs=1
    )
    client = mlflow.MlflowClient(f"sqlite:///{work_dir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert run.data.tags["variant"] == "a" and run.info.status == "FINISHED"
    written = {
        (key, m.step): m.value
        for key in run.data.metrics
        for m in client.get_metric_history(run.info.run_id, key)
    }
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
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunks += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            out.append(record)
            chunks = b""
        if kind == 0 and length == 0:
            break
    return out


def finished_wandb_run(work_dir: str, timeout_s: float = 60.0) -> list:
    """The records of the offline run in ``work_dir`` once its ``exit`` record is written
    (``run.finish()`` returns before W&B's writer has flushed the file)."""
    (run_file,) = glob.glob(os.path.join(work_dir, "wandb", "offline-run-*", "run-*.wandb"))
    deadline = time.time() + timeout_s
    while True:
        try:
            records = read_wandb_records(run_file)
        except Exception:  # noqa: BLE001 - a record half written
            records = []
        if (records and records[-1].HasField("exit")) or time.time() > deadline:
            return records
        time.sleep(0.2)


def test_wandb_offline_run_equals_json_log(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))
    work_dir = train(
        tmp_path,
        "dict(type='MMDetWandbHook', init_kwargs=dict(project='toy'), log_checkpoint=True, "
        "num_eval_images=0)",
    )
    written, artifacts = {}, []
    for record in finished_wandb_run(work_dir):
        if record.HasField("history"):
            row = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            for key, value in row.items():
                if not key.startswith("_"):
                    written[(key, row["_step"])] = value
        if record.HasField("artifact"):
            artifacts.append((record.artifact.type, record.artifact.name))
    assert_matches_json_log(written, work_dir)
    assert (
        artifacts.count(("model", artifacts[0][1])) == 2 and ("logs", artifacts[-1][1]) in artifacts
    )


@pytest.mark.parametrize(
    "hook,extra",
    [("MlflowLoggerHook", "mlflow"), ("WandbLoggerHook", "wandb"), ("MMDetWandbHook", "wandb")],
)
def test_missing_extra_names_it(monkeypatch, hook, extra):
    monkeypatch.setitem(sys.modules, extra, None)  # as if the package were not installed
    with pytest.raises(
        ImportError, match=rf"{hook} needs the '{extra}' package: pip install 'detkit\[{extra}\]'"
    ):
        build(dict(type=hook), HOOKS)


def test_mmdet_wandb_hook_logs_eval_images_with_boxes(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from torch.utils.data import DataLoader

    from detkit.data.convert import convert_cityscapes
    from detkit.data.synthetic import generate_cityscapes_sample
    from detkit.engine import EvalHook, Runner, build_optimizer

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))
    root = tmp_path / "sample"
    generate_cityscapes_sample(root, train=0, val=2, test=0, size=(128, 64), seed=5)
    convert_cityscapes(root, root / "annotations", nproc=1, show_progress=False, splits=("val",))
    dataset = detkit.build_dataset(
        dict(
            type="CityscapesDataset",
            ann_file=str(root / "annotations" / "instancesonly_filtered_gtFine_val.json"),
            img_prefix=str(root / "leftImg8bit" / "val") + "/",
            pipeline=[],
        ),
        dict(test_mode=True),
    )
    model = ToyDetector()
    runner = Runner(
        model,
        build_optimizer(model, dict(type="SGD", lr=0.1)),
        work_dir=str(tmp_path / "work"),
        max_epochs=1,
    )
    eval_hook = runner.register_hook(
        EvalHook(DataLoader(dataset), lambda m, d: None, lambda r, **_: {})
    )
    boxes = [np.zeros((0, 5), np.float32) for _ in dataset.CLASSES]
    boxes[2] = np.array(
        [[1, 2, 30, 40, 0.9], [5, 5, 9, 9, 0.1]], np.float32
    )  # one kept, one under bbox_score_thr
    eval_hook.last_results = [(boxes, [[] for _ in dataset.CLASSES])] * 2
    hook = runner.register_hook(dict(type="MMDetWandbHook", num_eval_images=1, log_artifact=False))
    hook.before_run(runner)
    hook._log_eval_images(runner, step=5)
    hook.after_run(runner)
    records = finished_wandb_run(str(tmp_path / "work"))
    (row,) = [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in r.history.item
        }
        for r in records
        if r.HasField("history")
    ]
    assert row["_step"] == 5 and row["val/eval_images/_type"] == "table-file"
    assert row["val/eval_images/nrows"] == 1  # num_eval_images
    # the table itself goes into a run_table artifact (staged under WANDB_DATA_DIR until synced)
    (table_artifact,) = [
        r.artifact for r in records if r.HasField("artifact") and r.artifact.type == "run_table"
    ]
    (entry,) = [
        c for c in table_artifact.manifest.contents if c.path == "val/eval_images.table.json"
    ]
    table = json.load(open(entry.local_path))
    assert table["columns"] == ["image_name", "prediction"]
    name, image = table["data"][0]
    assert name == dataset.data_infos[0]["filename"] and image["_type"] == "image-file"
    assert (image["width"], image["height"]) == (128, 64)
    (box,) = image["boxes"]["predictions"]
    assert (
        box["position"] == {"minX": 1.0, "minY": 2.0, "maxX": 30.0, "maxY": 40.0}
        and box["class_id"] == 2
    )


@pytest.mark.slow
def test_trackers_write_on_rank_0_only_under_ddp(tmp_path):
    import subprocess

    from test_train_cli import BIN, TRAIN

    def run(args):  # this checkout's detkit and the toy modules
        path = os.pathsep.join([os.path.dirname(os.path.abspath(__file__)), ROOT])
        return subprocess.run(
            args,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1"),
            capture_output=True,
            text=True,
            timeout=300,
        )

    config = write_config(
        str(tmp_path),
        extra=(
            "log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook'), "
            "dict(type='TensorboardLoggerHook')])\n"
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
            "runner.max_epochs=1",
            "data.samples_per_gpu=2",
        ]
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert len(glob.glob(str(work_dir / "tf_logs" / "events.out.tfevents.*"))) == 1
    assert_matches_json_log(_tensorboard_scalars(str(work_dir)), str(work_dir))


def test_wandb_without_credentials_or_mode_logs_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))
    work_dir = train(tmp_path, "dict(type='WandbLoggerHook', log_artifact=False)", epochs=1)
    assert [r for r in finished_wandb_run(work_dir) if r.HasField("history")]
    assert "W&B: no API key" in open(glob.glob(os.path.join(work_dir, "*.log"))[0]).read()
