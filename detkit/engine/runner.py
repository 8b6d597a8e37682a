"""The training loop: ``run_step`` plus prioritised hooks (mmcv ``EpochBasedRunner`` semantics,
with an optional iteration budget).

One iteration (``run_step``): the batch moves to the model's device (non-blocking copies from
pinned memory), ``batch_transform`` (device-side augmentation) runs on it, then
``model.train_step(data_batch, optimizer)`` (under autocast when fp16/bf16 is on) -> ``dict(loss,
log_vars, num_samples)``; a non-finite loss raises
FloatingPointError; then :class:`GradientStep` does zero_grad -> backward -> clip -> step.

Counters: ``epoch`` (completed epochs, 0-based while running), ``iter`` (completed global
iterations), ``inner_iter`` (index in the current epoch). Hooks see them before the increment,
as in mmcv, so ``runner.epoch + 1`` is the 1-based epoch being run.

Validation values: ``val_metrics`` holds this epoch's evaluation metrics (an ``EvalHook``'s)
and a ``('val', n)`` phase's losses as ``val_<name>`` (sample-weighted means over every rank);
it is emptied when a training epoch starts. A hook may end training with
:meth:`Runner.request_stop` (``stop_training``/``stop_reason``): the run stops before the next
phase. ``best_checkpoints`` records the best checkpoints kept (``{key: {path, score, epoch}}``).

Checkpoints and exact resume: :class:`detkit.engine.runner_checkpoints.CheckpointMixin`.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import torch
from torch import nn

from detkit.checkpoint import unwrap_model
from detkit.engine.dist import all_gather, get_dist_info
from detkit.engine.hooks.base import Hook
from detkit.engine.hooks.logger import LogBuffer
from detkit.engine.model_inputs import scatter
from detkit.engine.optim.step import GradientStep
from detkit.engine.priority import get_priority
from detkit.engine.rng import get_rng_state, set_rng_state
from detkit.engine.runner_checkpoints import CheckpointMixin
from detkit.registry import HOOKS, build

__all__ = ["Runner", "StepModel", "move_to_device"]


class StepModel(Protocol):
    """What the runner calls on its model (MMDetection v2's ``BaseDetector`` steps)."""

    def train_step(
        self, data_batch: dict[str, Any], optimizer: torch.optim.Optimizer
    ) -> dict[str, Any]: ...

    def val_step(
        self, data_batch: dict[str, Any], optimizer: torch.optim.Optimizer | None
    ) -> dict[str, Any]: ...


def move_to_device(obj: Any, device: torch.device) -> Any:
    """A collated batch ready for the model on ``device``: DataContainers unwrapped and
    tensors moved (:func:`detkit.engine.model_inputs.scatter`)."""
    return scatter(obj, device)


class Runner(CheckpointMixin):
    """Args:
    model: a module with ``train_step`` (and ``val_step`` for a val workflow phase);
        possibly wrapped by :class:`~detkit.engine.dist.DetectorDDP`.
    optimizer: the optimizer.
    work_dir: where checkpoints and logs go (None: nothing is written).
    logger: text logger (default ``logging.getLogger('detkit')``).
    meta: run meta written to the JSON log and into every checkpoint (config text, seed, ...).
    max_epochs: number of epochs; with ``max_iters`` too, training stops at whichever
        comes first.
    max_iters: iteration budget (the ``IterBasedRunner`` way, or a cap for short demos).
    gradient_step: backward/clip/step (and fp16) policy; default plain full precision.
    batch_transform: applied to each training batch once it is on the model's device,
        before ``train_step`` (``train_detector`` passes :class:`detkit.data.DeviceAugment`
        with ``device_augment=True``); val phases get their batches unchanged.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        work_dir: str | None = None,
        logger: logging.Logger | None = None,
        meta: dict[str, Any] | None = None,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        gradient_step: GradientStep | None = None,
        batch_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        if max_epochs is None and max_iters is None:
            raise ValueError(
                "give max_epochs (runner=dict(type='EpochBasedRunner', max_epochs=N)) or max_iters"
            )
        for name, value in (("max_epochs", max_epochs), ("max_iters", max_iters)):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not callable(getattr(model, "train_step", None)):
            raise TypeError(
                f"{type(model).__name__} has no train_step(data_batch, optimizer) method"
            )
        self.model = model
        self.optimizer = optimizer
        self.work_dir = os.path.abspath(work_dir) if work_dir is not None else None
        if self.work_dir is not None:
            os.makedirs(self.work_dir, exist_ok=True)
        self.logger = logger or logging.getLogger("detkit")
        self.meta = dict(meta or {})
        self._max_epochs = max_epochs
        self._max_iters = max_iters
        self.gradient_step = gradient_step or GradientStep()
        self.batch_transform = batch_transform
        self.timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        self.rank, self.world_size = get_dist_info()
        self.hooks: list[Hook] = []
        self._priorities: list[int] = []
        self.log_buffer = LogBuffer()
        self.mode = "train"
        self.epoch = 0
        self.iter = 0
        self.inner_iter = 0
        self.data_loader: Any = None
        self.train_loader_len = 0
        self.outputs: dict[str, Any] = {}
        self._epoch_start_rng: dict[str, Any] | None = None
        self._resume_position: tuple[int, dict[str, Any] | None] | None = None
        self._next_epoch_rng: dict[str, Any] | None = None
        self._hook_stage = "epoch"
        self.workflow: list[tuple[str, int]] = [("train", 1)]
        self.val_metrics: dict[str, float] = {}
        self.best_checkpoints: dict[str, dict[str, Any]] = {}
        self.stop_training = False
        self.stop_reason: str | None = None

    # -- schedule --------------------------------------------------------------------------
    @property
    def max_epochs(self) -> int:
        if self._max_epochs is not None:
            return self._max_epochs
        assert self._max_iters is not None  # __init__ requires one of them
        return math.ceil(self._max_iters / max(self.train_loader_len, 1))

    @property
    def max_iters(self) -> int:
        """The iteration budget: ``max_epochs`` x loader length, capped by ``max_iters``."""
        by_epochs = (
            self._max_epochs * self.train_loader_len if self._max_epochs is not None else None
        )
        return min(v for v in (by_epochs, self._max_iters) if v is not None)

    @property
    def is_last_epoch(self) -> bool:
        return self.epoch + 1 >= self.max_epochs or self.iter >= self.max_iters

    @property
    def is_last_iter(self) -> bool:
        return self.iter + 1 >= self.max_iters

    def current_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def request_stop(self, reason: str) -> None:
        """End training before the next workflow phase, saying why (logged once)."""
        if not self.stop_training:
            self.stop_training, self.stop_reason = True, reason
            if self.rank == 0:
                self.logger.info(reason)

    # -- hooks -----------------------------------------------------------------------------
    def register_hook(
        self,
        hook: Hook | Mapping[str, Any],
        priority: int | str | None = None,
        key_path: str | None = None,
    ) -> Hook:
        """Add a hook (or a HOOKS config dict, whose ``priority`` key is honoured; ``key_path``
        names it in build errors); hooks with equal priority run in registration order."""
        if isinstance(hook, Mapping):
            options = dict(hook)
            priority = options.pop("priority", priority)
            hook = build(options, HOOKS, key_path=key_path)
        if not isinstance(hook, Hook):
            raise TypeError(f"hooks must derive from detkit.engine.Hook, got {type(hook).__name__}")
        value = get_priority(priority if priority is not None else hook.priority)
        position = bisect.bisect_right(self._priorities, value)
        self._priorities.insert(position, value)
        self.hooks.insert(position, hook)
        return hook

    def call_hook(self, name: str) -> None:
        for hook in self.hooks:
            getattr(hook, name)(self)

    # -- one iteration ---------------------------------------------------------------------
    def _device(self) -> torch.device:
        parameter = next(unwrap_model(self.model).parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def run_step(self, data_batch: Any) -> dict[str, Any]:
        """Forward ``train_step``, check the losses, backward and step the optimizer."""
        data_batch = move_to_device(data_batch, self._device())
        if self.batch_transform is not None:
            data_batch = self.batch_transform(data_batch)
        with self.gradient_step.autocast():
            outputs = cast(StepModel, self.model).train_step(data_batch, self.optimizer)
        if not isinstance(outputs, dict) or not {"loss", "log_vars", "num_samples"} <= set(outputs):
            raise TypeError(
                f"{type(unwrap_model(self.model)).__name__}.train_step must return dict(loss, "
                "log_vars, num_samples), "
                f"got {outputs!r:.200}"
            )
        log_vars = {k: float(v) for k, v in outputs["log_vars"].items()}
        if not torch.isfinite(outputs["loss"]).all() or not all(
            math.isfinite(v) for v in log_vars.values()
        ):
            raise FloatingPointError(
                f"loss became infinite or NaN at iteration {self.iter + 1} (epoch "
                f"{self.epoch + 1}, "
                f"step {self.inner_iter + 1}); losses: {log_vars}"
            )
        grad_norm = self.gradient_step(outputs["loss"], self.optimizer, self.model)
        if grad_norm is not None:
            log_vars["grad_norm"] = grad_norm
        outputs["log_vars"] = log_vars
        self.outputs = outputs
        self.log_buffer.update(log_vars, outputs["num_samples"])
        return outputs

    # -- epochs ----------------------------------------------------------------------------
    def train(self, data_loader: Any) -> None:
        """One training epoch (or what is left of it after a resume / of the iteration budget)."""
        self.mode = "train"
        self.model.train()
        self.data_loader = data_loader
        self.val_metrics = {}
        if self._epoch_start_rng is not None:
            set_rng_state(self._epoch_start_rng)
        self._epoch_start_rng = get_rng_state()
        self.call_hook("before_epoch")
        iterator = iter(data_loader)
        start = 0
        if self._resume_position is not None:
            start, rng_at_save = self._resume_position
            self._resume_position = None
            for _ in range(start):
                next(iterator)
            if rng_at_save is not None:
                set_rng_state(rng_at_save)
        tick = time.time()
        for self.inner_iter in range(start, len(data_loader)):
            if self.iter >= self.max_iters:
                break
            data_batch = next(iterator)
            data_time = time.time() - tick
            self.call_hook("before_step")
            self.run_step(data_batch)
            self.log_buffer.update({"data_time": data_time, "time": time.time() - tick})
            self._hook_stage = "step"
            self.call_hook("after_step")
            self.iter += 1
            tick = time.time()
        self._next_epoch_rng = get_rng_state()
        self._hook_stage = "epoch"
        self.call_hook("after_epoch")
        self._epoch_start_rng = self._next_epoch_rng
        self.epoch += 1

    @torch.no_grad()
    def val(self, data_loader: Any) -> None:
        """One pass of ``model.val_step`` over ``data_loader`` (a ``('val', 1)`` workflow phase)."""
        self.mode = "val"
        self.model.eval()
        self.data_loader = data_loader
        self.call_hook("before_epoch")
        phase = LogBuffer()
        for self.inner_iter, data_batch in enumerate(data_loader):
            self.call_hook("before_step")
            outputs = cast(StepModel, self.model).val_step(
                move_to_device(data_batch, self._device()), self.optimizer
            )
            self.outputs = outputs
            values = {k: float(v) for k, v in outputs["log_vars"].items()}
            self.log_buffer.update(values, outputs["num_samples"])
            phase.update(values, outputs["num_samples"])
            self.call_hook("after_step")
        means, samples = self._mean_over_ranks(phase)
        if self.world_size > 1:  # the log line shows every rank's mean too
            self.log_buffer.history.clear()
            self.log_buffer.update(means, samples)
        self.val_metrics.update({f"val_{k}": v for k, v in means.items()})
        self.call_hook("after_epoch")

    def _mean_over_ranks(self, phase: LogBuffer) -> tuple[dict[str, float], int]:
        """Sample-weighted means of a val phase's values over every rank, and the samples."""
        steps = next(iter(phase.history.values()), [])
        parts = all_gather((phase.mean(), sum(count for _, count in steps)))
        total = sum(count for _, count in parts)
        keys = {k for means, _ in parts for k in means}
        merged = {
            k: sum(means.get(k, 0.0) * count for means, count in parts) / max(total, 1)
            for k in sorted(keys)
        }
        return merged, total

    def run(
        self, data_loaders: Sequence[Any], workflow: Sequence[tuple[str, int]] = (("train", 1),)
    ) -> None:
        """Run ``workflow`` phases (``('train', n)``/``('val', n)``; one loader per phase) until
        ``max_epochs``/``max_iters``."""
        if len(data_loaders) != len(workflow):
            raise ValueError(
                f"workflow {list(workflow)} has {len(workflow)} phases but {len(data_loaders)} "
                "loaders were given"
            )
        for mode, epochs in workflow:
            if mode not in ("train", "val") or not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(
                    f"workflow phases must be ('train'|'val', positive int), got {(mode, epochs)!r}"
                )
        train_index = next((i for i, (mode, _) in enumerate(workflow) if mode == "train"), None)
        if train_index is None:
            raise ValueError(f"workflow {list(workflow)} has no 'train' phase")
        self.train_loader_len = len(data_loaders[train_index])
        self.data_loader = data_loaders[train_index]
        self.workflow = [(mode, epochs) for mode, epochs in workflow]
        self.logger.info(
            f"workflow: {list(workflow)}, max: {self.max_epochs} epochs / {self.max_iters} iters"
        )
        self.call_hook("before_train")
        while self.epoch < self.max_epochs and self.iter < self.max_iters:
            for (mode, epochs), loader in zip(workflow, data_loaders):
                for _ in range(epochs):
                    if self.stop_training or (
                        mode == "train"
                        and (self.epoch >= self.max_epochs or self.iter >= self.max_iters)
                    ):
                        break
                    getattr(self, mode)(loader)
            if self.stop_training:
                break
        self.call_hook("after_train")
