"""Training logs (mmcv ``TextLoggerHook``): a text line per ``interval`` iterations through the
runner's logger (file ``<work_dir>/<timestamp>.log``) and one JSON object per line in
``<work_dir>/<timestamp>.log.json``.

JSON lines: first the run meta (``env_info``, ``config``, ``seed``, ``exp_name``), then
``{mode: 'train', epoch (1-based), iter (1-based within the epoch), lr, memory (MB, CUDA max
allocated; 0 on CPU), data_time, time, <loss keys>..., loss}`` averaged over the interval
(weighted by ``num_samples``), floats rounded to 5 decimals; after evaluation
``{mode: 'val', epoch, iter, lr, <metrics>}``. Unlike mmcv, ``lr`` is not rounded (a warmup LR
of 1e-6 would read 0). Rank 0 only.
"""

from __future__ import annotations

import datetime
import json
import os
from collections import OrderedDict, defaultdict
from typing import Any

import torch

from detkit.engine.dist import is_main_process
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["LogBuffer", "TextLoggerHook", "log_record"]


class LogBuffer:
    """Sample-weighted running values since the last output; ``output`` holds the averages."""

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self.output: OrderedDict[str, Any] = OrderedDict()
        self.ready = False

    def update(self, values: dict[str, float], count: int = 1) -> None:
        for key, value in values.items():
            self.history[key].append((float(value), count))

    def mean(self, n: int | None = None) -> dict[str, float]:
        """Sample-weighted means of the last ``n`` updates of each key (all with None); the
        history is left as it is."""
        means = {}
        for key, items in self.history.items():
            items = items[-n:] if n else items
            total = sum(count for _, count in items)
            means[key] = sum(value * count for value, count in items) / max(total, 1)
        return means

    def average(self) -> None:
        self.output.update(self.mean())
        self.history.clear()
        self.ready = True

    def clear_output(self) -> None:
        self.output.clear()
        self.ready = False

    def clear(self) -> None:
        self.history.clear()
        self.clear_output()


def _round(value: Any) -> Any:
    return round(value, 5) if isinstance(value, float) else value


def log_record(runner: Any, output: dict[str, Any], by_epoch: bool = True) -> OrderedDict[str, Any]:
    """One JSON-log record (unrounded) from averaged buffer values ``output``: ``mode`` is
    ``'train'`` when ``output`` has ``time``, else ``'val'``; ``iter`` is 1-based within the
    epoch (``by_epoch``) or global, or the val loader length after an evaluation."""
    output = dict(output)
    mode = "train" if "time" in output else "val"
    record: OrderedDict[str, Any] = OrderedDict(mode=mode, epoch=runner.epoch + 1)
    record["iter"] = runner.inner_iter + 1 if by_epoch else runner.iter + 1
    if "eval_iter_num" in output:
        record["iter"] = output.pop("eval_iter_num")
    record["lr"] = runner.current_lr()[0]
    if mode == "train":
        record["memory"] = (
            int(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else 0
        )
    record.update(output)
    return record


@HOOKS.register_module()
class TextLoggerHook(Hook):
    """Args (``log_config``): interval (iterations between lines), by_epoch (print
    ``Epoch [e][i/N]`` or ``Iter [i/N]``), ignore_last (skip the last, partial interval of an
    epoch; mmcv's default is True, detkit's False so short demo epochs are logged)."""

    priority = "VERY_LOW"

    def __init__(
        self, interval: int = 10, by_epoch: bool = True, ignore_last: bool = False, **_: Any
    ) -> None:
        if interval <= 0:
            raise ValueError(f"log_config.interval must be positive, got {interval}")
        self.interval = interval
        self.by_epoch = by_epoch
        self.ignore_last = ignore_last
        self.json_path: str | None = None
        self.start_iter = 0

    def before_run(self, runner: Any) -> None:
        self.start_iter = runner.iter
        if not is_main_process() or runner.work_dir is None:
            return
        self.json_path = os.path.join(runner.work_dir, f"{runner.timestamp}.log.json")
        if runner.meta:
            self._dump(runner.meta)

    def before_epoch(self, runner: Any) -> None:
        runner.log_buffer.clear()

    def _dump(self, record: dict[str, Any]) -> None:
        if self.json_path is not None:
            with open(self.json_path, "a") as file:
                rounded = {k: v if k == "lr" else _round(v) for k, v in record.items()}
                file.write(json.dumps(rounded, default=str) + "\n")

    def _log(self, runner: Any) -> None:
        record = log_record(runner, runner.log_buffer.output, self.by_epoch)
        runner.log_buffer.clear_output()
        if not is_main_process():
            return
        self._dump(record)
        runner.logger.info(self._text_line(runner, record))

    def _text_line(self, runner: Any, record: dict[str, Any]) -> str:
        if record["mode"] == "val":
            head = f"Epoch(val) [{record['epoch']}][{record['iter']}]\t"
        elif self.by_epoch:
            head = f"Epoch [{record['epoch']}][{record['iter']}/{len(runner.data_loader)}]\t"
        else:
            head = f"Iter [{record['iter']}/{runner.max_iters}]\t"
        fields = [f"lr: {record['lr']:.3e}"]
        if record["mode"] == "train":
            done = runner.iter + 1 - self.start_iter
            remaining = runner.max_iters - runner.iter - 1
            eta = datetime.timedelta(seconds=int(record["time"] * remaining)) if done > 0 else None
            fields.append(f"eta: {eta}")
        skip = {"mode", "epoch", "iter", "lr"}
        for key, value in record.items():
            if key not in skip:
                fields.append(
                    f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
                )
        return head + ", ".join(fields)

    def after_train_iter(self, runner: Any) -> None:
        at_end = self.end_of_epoch(runner) and not self.ignore_last
        if self.every_n_inner_iters(runner, self.interval) or at_end:
            runner.log_buffer.average()
            self._log(runner)

    def after_train_epoch(self, runner: Any) -> None:
        if runner.log_buffer.ready:  # metrics written by an EvalHook
            self._log(runner)

    def after_val_epoch(self, runner: Any) -> None:
        runner.log_buffer.average()
        self._log(runner)
