"""A small real detector-shaped model and dataset for engine tests.

``ToyDetector`` classifies which colour channel of an image is brightest: a conv + BN
feature extractor and a linear ``bbox_head`` (with ``num_classes``), following MMDetection's
model protocol (``forward(img, img_metas, return_loss=True, **gts)``, ``train_step``,
``val_step``). ``ToyDataset`` renders such images with per-sample numpy noise (so data
randomness goes through the global RNGs, as mmdet's transforms do). Both are registered, so
configs can name them via ``custom_imports=dict(imports=['toy_detector'])``.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detkit.engine import Hook
from detkit.registry import DATASETS, HOOKS, MODELS


class ToyHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_cls(x)


@MODELS.register_module(force=True)
class ToyDetector(nn.Module):
    """Image [B,3,H,W] -> class logits [B, num_classes]; ``nan_at_call`` makes the loss NaN on
    that (1-based) train_step call, to test the NaN guard."""

    def __init__(
        self, num_classes: int = 3, width: int = 8, nan_at_call: int | None = None, **_: Any
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.bbox_head = ToyHead(width, num_classes)
        self.nan_at_call = nan_at_call
        self.calls = 0

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(self.conv.weight)

    def logits(self, img: torch.Tensor) -> torch.Tensor:
        features = F.relu(self.bn(self.conv(img)))
        return self.bbox_head(features.mean(dim=(2, 3)))

    def forward(
        self, img: Any, img_metas: Any = None, return_loss: bool = True, **kwargs: Any
    ) -> Any:
        if return_loss:
            return self.forward_train(img, kwargs["gt_labels"])
        images = img[0] if isinstance(img, list) else img
        return [int(i) for i in self.logits(images).argmax(dim=1)]

    def forward_train(self, img: torch.Tensor, gt_labels: Any) -> dict[str, torch.Tensor]:
        labels = (
            torch.stack(list(gt_labels)).view(-1)
            if isinstance(gt_labels, (list, tuple))
            else gt_labels
        )
        logits = self.logits(img)
        loss_cls = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean() * 100
        return {"loss_cls": loss_cls, "acc": acc}

    def train_step(self, data_batch: dict[str, Any], optimizer: Any) -> dict[str, Any]:
        self.calls += 1
        losses = self(**data_batch)
        if self.nan_at_call is not None and self.calls == self.nan_at_call:
            losses["loss_cls"] = losses["loss_cls"] * float("nan")
        loss = sum(v for k, v in losses.items() if "loss" in k)
        log_vars = {k: float(v.detach()) for k, v in losses.items()}
        log_vars["loss"] = float(loss.detach())
        return {"loss": loss, "log_vars": log_vars, "num_samples": len(data_batch["img"])}

    def val_step(self, data_batch: dict[str, Any], optimizer: Any = None) -> dict[str, Any]:
        losses = self(**data_batch)
        log_vars = {k: float(v) for k, v in losses.items()}
        log_vars["loss"] = float(losses["loss_cls"])  # the total, as mmdet's detectors log it
        return {
            "loss": losses["loss_cls"],
            "log_vars": log_vars,
            "num_samples": len(data_batch["img"]),
        }


@DATASETS.register_module(force=True)
class ToyDataset(torch.utils.data.Dataset):
    """``num_samples`` 3x``size``x``size`` images whose label is the brightest channel."""

    CLASSES = ("red", "green", "blue")

    def __init__(
        self,
        num_samples: int = 16,
        size: int = 8,
        seed: int = 0,
        noise: float = 0.3,
        test_mode: bool = False,
        **_: Any,
    ) -> None:
        generator = np.random.default_rng(seed)
        self.labels = generator.integers(0, 3, num_samples)
        self.base = generator.uniform(0, 0.5, (num_samples, 3, size, size)).astype(np.float32)
        self.base[np.arange(num_samples), self.labels] += 0.5
        self.noise = noise
        self.test_mode = test_mode
        self.flag = np.zeros(num_samples, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img = self.base[index] + np.random.uniform(
            -self.noise, self.noise, self.base[index].shape
        ).astype(np.float32)
        return {"img": torch.from_numpy(img), "gt_labels": torch.tensor(int(self.labels[index]))}

    def evaluate(
        self, results: list[int], logger: Any = None, metric: str | list[str] = "accuracy", **_: Any
    ) -> dict[str, float]:
        if metric not in ("accuracy", ["accuracy"]):  # tools/test.py passes --eval's list
            raise KeyError(f"ToyDataset only evaluates 'accuracy', got {metric!r}")
        return {"accuracy": float(np.mean(np.asarray(results) == self.labels[: len(results)]))}


@HOOKS.register_module(force=True)
class SigkillAtIterHook(Hook):
    """Kill this process with SIGKILL (no clean-up at all) after global iteration ``at_iter``."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner: Any) -> None:
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module(force=True)
class SigkillOnceHook(Hook):
    """On rank ``rank``, kill this process with SIGKILL after global iteration ``at_iter`` the
    first time only (``marker`` is created then): a restarted run gets past it."""

    def __init__(self, at_iter: int, marker: str, rank: int = 1) -> None:
        self.at_iter, self.marker, self.rank = at_iter, marker, rank

    def after_train_iter(self, runner: Any) -> None:
        if runner.rank == self.rank and runner.iter + 1 == self.at_iter:
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module(force=True)
class InterruptParentHook(Hook):
    """On rank 0, send SIGINT to the parent process after global iteration ``at_iter`` (the
    notebook's stop button, as :func:`detkit.engine.launch.launch` sees it)."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner: Any) -> None:
        if runner.rank == 0 and runner.iter + 1 == self.at_iter:
            os.kill(os.getppid(), signal.SIGINT)


@HOOKS.register_module(force=True)
class DumpRankWeightsHook(Hook):
    """Save every rank's state dict after iteration ``at_iter`` to
    ``<work_dir>/rank<r>_iter<n>.pt``."""

    priority = "LOWEST"

    def __init__(self, at_iter: int = 1) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner: Any) -> None:
        if runner.iter + 1 == self.at_iter:
            state = {k: v.detach().cpu() for k, v in runner.model.module.state_dict().items()}
            torch.save(
                state, os.path.join(runner.work_dir, f"rank{runner.rank}_iter{self.at_iter}.pt")
            )
