"""detkit.checkpoint: save/load in MMDetection's layout, sources, the load report."""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
from collections import OrderedDict

import pytest
import torch
from torch import nn

from detkit.checkpoint import (
    LoadReport,
    hub_cache_path,
    link_latest,
    load_checkpoint,
    read_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
    torchvision_weights_url,
)


class TinyCascade(nn.Module):
    """Key layout of a Cascade Mask R-CNN's class-dependent heads, at toy size."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.roi_head = nn.Module()
        self.roi_head.bbox_head = nn.ModuleList()
        self.roi_head.mask_head = nn.ModuleList()
        for _ in range(3):
            bbox_head = nn.Module()
            bbox_head.fc_cls = nn.Linear(8, num_classes + 1)
            bbox_head.fc_reg = nn.Linear(8, 4)
            self.roi_head.bbox_head.append(bbox_head)
            mask_head = nn.Module()
            mask_head.conv_logits = nn.Conv2d(4, num_classes, 1)
            self.roi_head.mask_head.append(mask_head)


def test_save_layout_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = TinyCascade(8)
    model.backbone[1].running_mean.fill_(0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "sub" / "epoch_1.pth"
    save_checkpoint(
        nn.DataParallel(model),
        str(path),
        optimizer,
        meta={"epoch": 1, "iter": 7, "CLASSES": ("a",)},
    )
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"meta", "state_dict", "optimizer"}
    assert (
        raw["meta"]["epoch"] == 1 and raw["meta"]["iter"] == 7 and raw["meta"]["CLASSES"] == ("a",)
    )
    assert {"time", "torch_version", "detkit_version"} <= set(raw["meta"])
    assert not any(k.startswith("module.") for k in raw["state_dict"])
    assert (
        "backbone.1.running_mean" in raw["state_dict"]
        and "backbone.1.num_batches_tracked" in raw["state_dict"]
    )
    assert all(v.device.type == "cpu" for v in raw["state_dict"].values())
    assert [p.name for p in path.parent.iterdir()] == ["epoch_1.pth"]  # no temp file left

    fresh = TinyCascade(8)
    checkpoint = load_checkpoint(fresh, str(path), strict=True)
    assert checkpoint["load_report"].exact
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)


def test_80_to_8_class_mismatch_report(tmp_path, caplog):
    torch.manual_seed(0)
    coco = TinyCascade(80)
    path = tmp_path / "coco.pth"
    save_checkpoint(coco, str(path))
    torch.manual_seed(1)
    cityscapes = TinyCascade(8)
    before = {k: v.clone() for k, v in cityscapes.state_dict().items()}
    logger = logging.getLogger(
        "checkpoint_test_report"
    )  # outside 'detkit', which may not propagate
    with caplog.at_level("WARNING", logger="checkpoint_test_report"):
        report = load_checkpoint(cityscapes, str(path), logger=logger)["load_report"]
    assert isinstance(report, LoadReport)
    assert len(report.mismatched) == 12 and not report.missing and not report.unexpected
    assert ("roi_head.bbox_head.0.fc_cls.weight", (81, 8), (9, 8)) in report.mismatched
    after = cityscapes.state_dict()
    for key, _, _ in report.mismatched:  # kept initialised
        torch.testing.assert_close(after[key], before[key])
    torch.testing.assert_close(
        after["roi_head.bbox_head.2.fc_reg.weight"],
        coco.state_dict()["roi_head.bbox_head.2.fc_reg.weight"],
    )
    table = report.table()
    assert re.search(
        r"mismatch +roi_head\.bbox_head\.\{0,1,2\}\.fc_cls\.weight +\[81, 8\] +\[9, 8\]", table
    )
    assert "roi_head.mask_head.{0,1,2}.conv_logits.bias" in table
    assert len(table.splitlines()) == 2 + 4  # summary + header + 4 grouped rows
    assert (
        len([r for r in caplog.records if r.name == "checkpoint_test_report"]) == 1
    )  # logged once

    with pytest.raises(RuntimeError, match="fc_cls"):
        load_checkpoint(TinyCascade(8), str(path), strict=True)


def test_missing_unexpected_prefix_and_plain_state_dict(tmp_path):
    model = TinyCascade(2)
    state = OrderedDict(
        ("module." + k, v) for k, v in model.state_dict().items() if "mask_head" not in k
    )
    state["module.extra.weight"] = torch.zeros(3)
    path = tmp_path / "plain.pth"
    torch.save(state, path)  # no 'state_dict' key: the whole dict is the state dict
    report = load_checkpoint(TinyCascade(2), str(path))["load_report"]
    assert report.unexpected == ["extra.weight"]
    assert sorted(report.missing) == sorted(k for k in model.state_dict() if "mask_head" in k)
    assert "roi_head.mask_head.{0,1,2}.conv_logits.weight" in report.table()
    with pytest.raises(RuntimeError, match="extra.weight"):
        load_checkpoint(TinyCascade(2), str(path), strict=True)


def test_missing_num_batches_tracked_not_reported(tmp_path):
    model = TinyCascade(2)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    assert load_checkpoint(TinyCascade(2), str(tmp_path / "old.pth"), strict=True)[
        "load_report"
    ].exact


def test_url_download_into_hub_cache_and_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    served = tmp_path / "served" / "tiny-0123abcd.pth"
    served.parent.mkdir()
    save_checkpoint(TinyCascade(2), str(served))
    url = served.as_uri()
    cached = hub_cache_path(url)
    assert cached == str(tmp_path / "torch_home" / "hub" / "checkpoints" / "tiny-0123abcd.pth")
    # the file name carries a hash prefix that does not match: the download is refused
    with pytest.raises(RuntimeError, match="invalid hash"):
        resolve_checkpoint_path(url, progress=False)
    good = served.parent / "tiny.pth"
    shutil.copy(served, good)
    assert resolve_checkpoint_path(good.as_uri(), progress=False) == hub_cache_path(good.as_uri())
    assert load_checkpoint(TinyCascade(2), good.as_uri(), strict=True)["load_report"].exact
    os.remove(good)  # now served from the cache only
    assert load_checkpoint(TinyCascade(2), good.as_uri(), strict=True)["load_report"].exact

    missing_url = (served.parent / "nothing.pth").as_uri()
    with pytest.raises(
        FileNotFoundError,
        match=str(tmp_path / "torch_home" / "hub" / "checkpoints" / "nothing.pth"),
    ):
        resolve_checkpoint_path(missing_url, progress=False)


def test_torchvision_and_open_mmlab_names(tmp_path, monkeypatch):
    assert (
        torchvision_weights_url("resnet50")
        == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    )
    assert torchvision_weights_url("resnet18.IMAGENET1K_V1").endswith("resnet18-f37072fd.pth")
    with pytest.raises(KeyError, match="no model named"):
        torchvision_weights_url("resnet5")
    # a pre-populated cache serves torchvision:// offline
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = hub_cache_path(torchvision_weights_url("resnet50"))
    os.makedirs(os.path.dirname(cached))
    torch.save(TinyCascade(2).state_dict(), cached)
    assert resolve_checkpoint_path("torchvision://resnet50") == cached
    assert resolve_checkpoint_path("modelzoo://resnet50") == cached
    with pytest.raises(KeyError, match="resnet50_caffe"):
        resolve_checkpoint_path("open-mmlab://resnet5_caffe")


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_checkpoint(str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="unsupported checkpoint scheme"):
        resolve_checkpoint_path("s3://bucket/x.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="must hold a dict"):
        read_checkpoint(str(tmp_path / "list.pth"))
    with pytest.raises(TypeError, match="meta must be a dict"):
        save_checkpoint(TinyCascade(1), str(tmp_path / "x.pth"), meta=[1])


def test_atomic_save_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "latest_good.pth"
    save_checkpoint(TinyCascade(1), str(path), meta={"epoch": 1})
    before = path.read_bytes()

    class Unpicklable(nn.Module):
        def state_dict(self, *args, **kwargs):  # noqa: D401 - a real module whose state cannot be saved
            return OrderedDict(bad=lambda: None)

    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save_checkpoint(Unpicklable(), str(path))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["latest_good.pth"]


def test_link_latest_is_relative_symlink_replaced(tmp_path):
    for epoch in (1, 2):
        save_checkpoint(TinyCascade(1), str(tmp_path / f"epoch_{epoch}.pth"), meta={"epoch": epoch})
        link = link_latest(str(tmp_path / f"epoch_{epoch}.pth"))
    assert os.readlink(link) == "epoch_2.pth"
    assert read_checkpoint(link)["meta"]["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_1.pth",
        "epoch_2.pth",
        "latest.pth",
    ]


def test_golden_mmdet_checkpoint_reads_with_weights_only(golden_dir):
    checkpoint = read_checkpoint(str(golden_dir / "checkpoint.pth"))
    assert (
        checkpoint["meta"]["mmdet_version"] == "2.28.2" and len(checkpoint["meta"]["CLASSES"]) == 8
    )


def test_saved_file_has_umask_permissions(tmp_path):
    path = tmp_path / "perm.pth"
    save_checkpoint(TinyCascade(1), str(path))
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~mask
