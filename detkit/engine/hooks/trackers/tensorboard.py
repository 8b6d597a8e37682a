"""``TensorboardLoggerHook`` (mmcv): the JSON log's scalars as TensorBoard events.

    log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook'),
                                          dict(type='TensorboardLoggerHook')])

Events go to ``log_dir`` (default ``<work_dir>/tf_logs``); view them with
``tensorboard --logdir <work_dir>/tf_logs``.
"""

from __future__ import annotations

import os
from typing import Any

from detkit.engine.hooks.trackers.base import TrackerHook
from detkit.registry import HOOKS

__all__ = ["TensorboardLoggerHook"]


@HOOKS.register_module()
class TensorboardLoggerHook(TrackerHook):
    """Args: log_dir (default ``<work_dir>/tf_logs``) and mmcv ``LoggerHook``'s interval,
    ignore_last, reset_flag, by_epoch. Each record's scalars are flushed once written."""

    def __init__(
        self,
        log_dir: str | None = None,
        interval: int = 10,
        ignore_last: bool = False,
        reset_flag: bool = False,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.log_dir = log_dir
        self.writer: Any = None

    def open(self, runner: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if self.log_dir is None:
            if runner.work_dir is None:
                raise ValueError(
                    "TensorboardLoggerHook needs log_dir when the runner has no work_dir"
                )
            self.log_dir = os.path.join(runner.work_dir, "tf_logs")
        self.writer = SummaryWriter(self.log_dir)

    def write(self, scalars: dict[str, float], step: int, runner: Any) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self, runner: Any) -> None:
        self.writer.close()
        self.writer = None
