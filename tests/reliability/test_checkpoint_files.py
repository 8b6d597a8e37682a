"""Files that are not (complete) checkpoints, and checkpoints that must not be written or
resumed: every entry point names the file and what is wrong; nothing is half-written."""

from __future__ import annotations

import errno
import os
import struct
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from test_train_detector import write_config  # noqa: E402
from toy_detector import ToyDataset, ToyDetector  # noqa: E402

import detkit  # noqa: E402
from detkit.checkpoint import CheckpointError, read_checkpoint, save_checkpoint  # noqa: E402
from detkit.engine.optim import GradientStep  # noqa: E402
from detkit.io import atomic_write  # noqa: E402


def _good(path: Path) -> Path:
    save_checkpoint(ToyDetector(), str(path), meta={"epoch": 1, "iter": 4})
    return path


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, phrase its error must contain)."""
    data = _good(tmp_path / "good.pth").read_bytes()
    files = {
        "text": (
            "notes.txt",
            b"epoch 3 looked fine\n",
            "not a PyTorch checkpoint: it starts with b'epoch",
        ),
        "empty": ("empty.pth", b"", "the file is empty (0 bytes)"),
        "truncated": (
            "cut.pth",
            data[: len(data) // 2],
            f"not a complete checkpoint: truncated at byte {len(data) // 2}",
        ),
        "truncated_tail": ("cut_tail.pth", data[:-7], f"truncated at byte {len(data) - 7}"),
        "random_binary": ("noise.pth", bytes(range(256)) * 4, "unknown binary format"),
    }
    found = {}
    for name, (file_name, content, phrase) in files.items():
        (tmp_path / file_name).write_bytes(content)
        found[name] = (tmp_path / file_name, phrase)
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("holiday/a.jpg", b"\xff\xd8")
    found["zip_of_other"] = (
        tmp_path / "photos.zip",
        "a zip archive without data.pkl (it holds holiday/a.jpg)",
    )
    return found


def flip_inside_a_tensor(path: Path) -> str:
    """Invert 4 bytes in the middle of the largest tensor record of the checkpoint zip at
    ``path`` (its size unchanged, as a disk or transfer error leaves it); returns the record."""
    with zipfile.ZipFile(path) as archive:
        info = max(
            (i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size
        )
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    middle = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    path.write_bytes(bytes(data))
    return info.filename


def test_bytes_flipped_inside_a_tensor_are_detected(tmp_path):
    path = _good(tmp_path / "flipped.pth")
    size = path.stat().st_size
    record = flip_inside_a_tensor(path)
    assert path.stat().st_size == size
    for call in (
        lambda: detkit.load_checkpoint(ToyDetector(), str(path)),
        lambda: read_checkpoint(str(path)),
    ):
        with pytest.raises(CheckpointError) as info:
            call()
        assert str(path) in str(info.value) and f"record '{record}' fails its CRC-32 check" in str(
            info.value
        )
    assert detkit.load_checkpoint(
        ToyDetector(), str(_good(tmp_path / "good.pth"))
    )  # a good one loads


def test_auto_resume_skips_a_latest_with_flipped_bytes(tmp_path):
    _train(tmp_path, "work", 2, seed=0)
    work = tmp_path / "work"
    flip_inside_a_tensor(work / "epoch_2.pth")
    with pytest.warns(
        UserWarning, match=r"skipping .*latest.pth: corrupt checkpoint: record .* CRC-32"
    ):
        assert detkit.engine.find_latest_checkpoint(str(work)) == str(work / "epoch_1.pth")
    with pytest.warns(UserWarning, match="CRC-32"):
        runner = _train(tmp_path, "work", 2, seed=0, auto_resume=True)
    assert (runner.epoch, runner.iter) == (2, 8)  # resumed from epoch 1


@pytest.mark.parametrize(
    "kind", ["text", "empty", "truncated", "truncated_tail", "random_binary", "zip_of_other"]
)
def test_load_checkpoint_names_file_and_problem(tmp_path, kind):
    path, phrase = _bad_files(tmp_path)[kind]
    for call in (
        lambda: detkit.load_checkpoint(ToyDetector(), str(path)),
        lambda: read_checkpoint(str(path)),
    ):
        with pytest.raises(CheckpointError) as info:
            call()
        assert str(path) in str(info.value) and phrase in str(info.value)


def test_init_detector_load_from_and_resume_from_name_the_file(tmp_path):
    bad, phrase = _bad_files(tmp_path)["truncated"]
    config = write_config(str(tmp_path))
    with pytest.raises(CheckpointError, match="truncated at byte"):
        detkit.init_detector(config, str(bad))
    for key in ("load_from", "resume_from"):
        cfg = detkit.Config.fromfile(config)
        cfg.work_dir = str(tmp_path / key)
        cfg[key] = str(bad)
        with pytest.raises(CheckpointError) as info:
            detkit.train_detector(ToyDetector(), ToyDataset(16), cfg, validate=False)
        assert str(bad) in str(info.value) and phrase in str(info.value)


def _train(
    tmp_path: Path, work: str, epochs: int, seed: int | None, auto_resume: bool = False, **model
):
    cfg = detkit.Config.fromfile(write_config(str(tmp_path)))
    cfg.work_dir = str(tmp_path / work)
    cfg.runner.max_epochs = epochs
    cfg.seed = seed
    cfg.auto_resume = auto_resume
    if seed is not None:
        detkit.set_random_seed(seed)
    return detkit.train_detector(
        ToyDetector(**model),
        ToyDataset(16),
        cfg,
        validate=False,
        meta={"seed": seed} if seed is not None else None,
    )


def test_auto_resume_skips_corrupt_latest_and_falls_back(tmp_path):
    _train(tmp_path, "work", 2, seed=0)
    work = tmp_path / "work"
    assert os.readlink(work / "latest.pth") == "epoch_2.pth"
    data = (work / "epoch_2.pth").read_bytes()
    (work / "epoch_2.pth").write_bytes(data[:100])  # e.g. a copy cut short
    with pytest.warns(UserWarning, match=r"skipping .*latest.pth: not a complete checkpoint"):
        assert detkit.engine.find_latest_checkpoint(str(work)) == str(work / "epoch_1.pth")
    with pytest.warns(UserWarning, match="skipping"):
        runner = _train(tmp_path, "work", 2, seed=0, auto_resume=True)
    assert (runner.epoch, runner.iter) == (2, 8)  # resumed at epoch 1, did not start over

    for name in ("epoch_1.pth", "epoch_2.pth"):
        (work / name).write_bytes(b"")
    with (
        pytest.warns(UserWarning),
        pytest.raises(CheckpointError, match="no complete checkpoint in"),
    ):
        detkit.engine.find_latest_checkpoint(str(work))


def test_auto_resume_restores_the_runs_seed(tmp_path):
    full = _train(tmp_path, "full", 2, seed=5)
    _train(tmp_path, "resumed", 1, seed=5)
    # resumed without --seed (tools/train.py draws a new one): the checkpoint's seed must win
    resumed = _train(tmp_path, "resumed", 2, seed=1234, auto_resume=True)
    assert resumed.meta["seed"] == 5
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert read_checkpoint(str(tmp_path / "resumed" / "latest.pth"))["meta"]["seed"] == 5


def test_resume_after_architecture_change_names_the_keys(tmp_path):
    _train(tmp_path, "work", 1, seed=0)
    with pytest.raises(
        RuntimeError, match=r"strict load of .*latest.pth failed: its weights do not match"
    ) as info:
        _train(tmp_path, "work", 2, seed=0, auto_resume=True, width=4)
    assert "conv.weight" in str(info.value)


def test_non_finite_gradient_never_steps_or_saves(tmp_path):
    weight = nn.Parameter(torch.zeros(3))
    model = nn.Module()
    model.weight = weight
    optimizer = torch.optim.SGD([weight], lr=0.1)
    loss = torch.sqrt(weight).sum()  # finite (0) loss, infinite gradient
    with pytest.raises(
        FloatingPointError, match="gradient norm is (inf|nan).*Non-finite gradients in: weight"
    ):
        GradientStep()(loss, optimizer, model)
    assert torch.equal(weight.detach(), torch.zeros(3))

    toy = ToyDetector()
    with torch.no_grad():
        toy.bbox_head.fc_cls.weight[0, 0] = float("nan")
    target = tmp_path / "epoch_9.pth"
    with pytest.raises(
        FloatingPointError, match=r"not saving .*epoch_9.pth: .*bbox_head.fc_cls.weight"
    ):
        save_checkpoint(toy, str(target))
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))


def test_nan_weights_warn_at_load(tmp_path):
    path = _good(tmp_path / "ok.pth")
    checkpoint = read_checkpoint(str(path))
    checkpoint["state_dict"]["conv.bias"][0] = float("inf")
    torch.save(checkpoint, path)
    with pytest.warns(
        UserWarning, match=r"ok.pth: tensors holding NaN or inf values are loaded: conv.bias"
    ):
        detkit.load_checkpoint(ToyDetector(), str(path))


def test_disk_full_names_path_and_keeps_old_file(tmp_path):
    target = tmp_path / "latest_weights.pth"
    target.write_bytes(b"old")

    def write(file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(
        OSError, match=r"no space left on device while writing .*latest_weights.pth"
    ) as info:
        atomic_write(str(target), write)
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "latest_weights.pth"
    ]
