"""Save ``epoch_N.pth`` / ``iter_N.pth`` checkpoints and keep ``latest.pth`` pointing at the
newest (mmcv ``CheckpointHook``). Rank 0 writes, atomically; with several processes every rank
first hands in its RNG states (one ``all_gather``), so a resumed run continues each rank's
stream."""

from __future__ import annotations

import glob
import os
from typing import Any

from detkit.engine.dist import all_gather, is_main_process
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["CheckpointHook"]


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Args (``checkpoint_config``):
    interval: save every ``interval`` epochs (or iterations with ``by_epoch=False``); -1 never.
    by_epoch: count epochs or iterations.
    save_optimizer: include the optimizer state.
    out_dir: directory (default: the runner's work_dir).
    max_keep_ckpts: keep only the newest N periodic checkpoints (-1: keep all).
    save_last: also save after the last epoch/iteration even off the interval.
    """

    priority = "NORMAL"

    def __init__(
        self,
        interval: int = -1,
        by_epoch: bool = True,
        save_optimizer: bool = True,
        out_dir: str | None = None,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_optimizer = save_optimizer
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.meta = dict(meta or {})

    def before_run(self, runner: Any) -> None:
        if self.out_dir is None:
            self.out_dir = runner.work_dir
        if is_main_process() and os.path.isdir(self.out_dir):
            # temporary files of writes cut short by a killed run (see detkit.io.atomic_write)
            for stale in glob.glob(os.path.join(glob.escape(self.out_dir), ".*.pth.*.tmp")):
                os.remove(stale)

    def _save(self, runner: Any) -> None:
        rank_rng_states = all_gather(runner.rng_snapshot())  # every rank takes part
        if not is_main_process():
            return
        template = "epoch_{}.pth" if self.by_epoch else "iter_{}.pth"
        current = runner.epoch + 1 if self.by_epoch else runner.iter + 1
        runner.save_checkpoint(
            self.out_dir,
            template.format(current),
            save_optimizer=self.save_optimizer,
            meta=self.meta,
            rank_rng_states=rank_rng_states,
        )
        if self.max_keep_ckpts > 0:
            step = self.interval if self.interval > 0 else 1
            assert self.out_dir is not None  # set in before_run
            for old in range(current - self.max_keep_ckpts * step, 0, -step):
                path = os.path.join(self.out_dir, template.format(old))
                if not os.path.exists(path):
                    break
                os.remove(path)

    def after_train_epoch(self, runner: Any) -> None:
        if self.by_epoch and (
            self.every_n_epochs(runner, self.interval) or (self.save_last and runner.is_last_epoch)
        ):
            self._save(runner)

    def after_train_iter(self, runner: Any) -> None:
        if not self.by_epoch and (
            self.every_n_iters(runner, self.interval) or (self.save_last and runner.is_last_iter)
        ):
            self._save(runner)
