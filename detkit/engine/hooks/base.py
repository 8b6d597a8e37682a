"""The hook base class.

The runner calls, in priority order: ``before_train`` once, then per epoch ``before_epoch``,
per iteration ``before_step``/``after_step``, then ``after_epoch``, and ``after_train`` once.
``runner.mode`` is ``'train'`` or ``'val'`` (a ``('val', 1)`` workflow phase).

The default implementations forward to mmcv's method names (``before_run``,
``before_train_epoch``, ``after_train_iter``, ``before_val_epoch``, ...), so hooks written for
MMDetection v2 work unchanged. Unless a hook says otherwise it runs on every rank; hooks that
write files (checkpoints, logs) act on rank 0 only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Hook"]


class Hook:
    """Base class of runner hooks; override any subset of the methods below."""

    priority: int | str = "NORMAL"

    # -- detkit names (called by the runner) ---------------------------------------------
    def before_train(self, runner: Any) -> None:
        self.before_run(runner)

    def after_train(self, runner: Any) -> None:
        self.after_run(runner)

    def before_epoch(self, runner: Any) -> None:
        if runner.mode == "train":
            self.before_train_epoch(runner)
        else:
            self.before_val_epoch(runner)

    def after_epoch(self, runner: Any) -> None:
        if runner.mode == "train":
            self.after_train_epoch(runner)
        else:
            self.after_val_epoch(runner)

    def before_step(self, runner: Any) -> None:
        if runner.mode == "train":
            self.before_train_iter(runner)
        else:
            self.before_val_iter(runner)

    def after_step(self, runner: Any) -> None:
        if runner.mode == "train":
            self.after_train_iter(runner)
        else:
            self.after_val_iter(runner)

    # -- mmcv names ------------------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        pass

    def after_run(self, runner: Any) -> None:
        pass

    def before_train_epoch(self, runner: Any) -> None:
        pass

    def after_train_epoch(self, runner: Any) -> None:
        pass

    def before_val_epoch(self, runner: Any) -> None:
        pass

    def after_val_epoch(self, runner: Any) -> None:
        pass

    def before_train_iter(self, runner: Any) -> None:
        pass

    def after_train_iter(self, runner: Any) -> None:
        pass

    def before_val_iter(self, runner: Any) -> None:
        pass

    def after_val_iter(self, runner: Any) -> None:
        pass

    # -- helpers (mmcv) --------------------------------------------------------------------
    @staticmethod
    def every_n_epochs(runner: Any, n: int) -> bool:
        return n > 0 and (runner.epoch + 1) % n == 0

    @staticmethod
    def every_n_inner_iters(runner: Any, n: int) -> bool:
        return n > 0 and (runner.inner_iter + 1) % n == 0

    @staticmethod
    def every_n_iters(runner: Any, n: int) -> bool:
        return n > 0 and (runner.iter + 1) % n == 0

    @staticmethod
    def end_of_epoch(runner: Any) -> bool:
        return runner.inner_iter + 1 == len(runner.data_loader)
