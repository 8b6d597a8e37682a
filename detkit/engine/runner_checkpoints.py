"""Checkpoints of a :class:`~detkit.engine.runner.Runner`: saving, loading and exact resume.

Exact resume: each checkpoint carries a ``resume`` entry with the position (epoch, iter,
inner_iter), the RNG state at the start of that epoch, the RNG state at save time and the
GradScaler state. Resuming restores the epoch-start RNG, re-creates the data iterator (same
sampler order, same worker seeds), skips the batches already trained, then restores the save-time
RNG, so the continuation is the same as an uninterrupted run. Each epoch starts from the RNG
state at the end of the previous epoch's last step (evaluation in between does not shift it).
With several processes each rank's states are stored (``resume['ranks']``) and each rank
resumes on its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from detkit.checkpoint import link_latest, load_checkpoint, save_checkpoint, unwrap_model
from detkit.checkpoint.v3_format import match_optimizer_state, unrestored_parts
from detkit.engine.rng import get_rng_state

if TYPE_CHECKING:
    from detkit.engine.optim import GradientStep

__all__ = ["CheckpointMixin"]


class CheckpointMixin:
    """``save_checkpoint`` / ``load_checkpoint`` / ``resume`` (mmcv runner names) for the
    runner, which holds the counters, RNG bookkeeping, model, optimizer and logger they use."""

    # set by the runner
    model: nn.Module
    optimizer: torch.optim.Optimizer
    logger: logging.Logger
    meta: dict[str, Any]
    gradient_step: GradientStep
    rank: int
    world_size: int
    epoch: int
    iter: int
    inner_iter: int
    mode: str
    _hook_stage: str
    _epoch_start_rng: dict[str, Any] | None
    _next_epoch_rng: dict[str, Any] | None
    _resume_position: tuple[int, dict[str, Any] | None] | None

    def rng_snapshot(self) -> dict[str, Any]:
        """This process's RNG states for a checkpoint written now (from ``after_step`` or
        ``after_epoch`` hooks): ``rng_epoch_start`` (the epoch to replay) and ``rng`` (save
        time; None at an epoch end). Every rank calls it: each draws its own stream."""
        if self._hook_stage == "step":
            return {"rng_epoch_start": self._epoch_start_rng, "rng": get_rng_state()}
        return {"rng_epoch_start": self._next_epoch_rng, "rng": None}

    def _positions(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(mmcv meta counters, exact resume position of this process) for a checkpoint written
        now."""
        if self._hook_stage == "step":
            meta = {"epoch": self.epoch + 1, "iter": self.iter + 1}
            position = {
                "epoch": self.epoch,
                "iter": self.iter + 1,
                "inner_iter": self.inner_iter + 1,
            }
        else:  # after a training epoch (not yet counted) or in a val phase (counted)
            done = self.epoch + 1 if self.mode == "train" else self.epoch
            meta = {"epoch": done, "iter": self.iter}
            position = {"epoch": done, "iter": self.iter, "inner_iter": 0}
        return meta, {**position, **self.rng_snapshot()}

    def save_checkpoint(
        self,
        out_dir: str,
        filename: str,
        save_optimizer: bool = True,
        meta: dict[str, Any] | None = None,
        create_symlink: bool = True,
        rank_rng_states: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        """Write ``<out_dir>/<filename>`` (atomically) with MMDetection's layout plus the exact
        resume state; point ``latest.pth`` at it. Returns the path.

        ``rank_rng_states``: every rank's :meth:`rng_snapshot`, in rank order (gathered by the
        checkpoint hook), so each process of a resumed multi-process run continues its own RNG
        stream; without it the checkpoint holds this process's states only."""
        counters, position = self._positions()
        if rank_rng_states is not None:
            if len(rank_rng_states) != self.world_size:
                raise ValueError(
                    f"rank_rng_states has {len(rank_rng_states)} entries for {self.world_size} "
                    "processes"
                )
            position["ranks"] = list(rank_rng_states)
        position["grad_scaler"] = self.gradient_step.state_dict()
        full_meta = {**self.meta, **(meta or {}), **counters, "world_size": self.world_size}
        path = os.path.join(out_dir, filename)
        optimizer = self.optimizer if save_optimizer else None
        save_checkpoint(
            self.model, path, optimizer=optimizer, meta=full_meta, extra={"resume": position}
        )
        if create_symlink:
            link_latest(path)
        return path

    def load_checkpoint(
        self, filename: str, map_location: str = "cpu", strict: bool = False
    ) -> dict[str, Any]:
        """Load weights only (``load_from``): counters and optimizer untouched."""
        return load_checkpoint(
            self.model, filename, map_location=map_location, strict=strict, logger=self.logger
        )

    def resume(
        self, filename: str, resume_optimizer: bool = True, map_location: str = "cpu"
    ) -> dict[str, Any]:
        """Load weights, counters, optimizer and GradScaler state and the RNG/data position
        (``resume_from``). Checkpoints without detkit's resume entry (e.g. from MMDetection)
        resume at ``meta['epoch']``/``meta['iter']`` without RNG state."""
        checkpoint = self.load_checkpoint(
            filename, map_location=map_location, strict=True
        )  # same architecture
        meta = checkpoint.get("meta", {})
        position = checkpoint.get("resume")
        saved_world_size = int(meta.get("world_size", self.world_size))
        if position is not None and saved_world_size != self.world_size:
            # another number of processes: batches per epoch differ, so the data position and
            # RNG streams cannot be replayed; continue at the saved epoch, iter rescaled (mmcv)
            self.logger.warning(
                f"{filename} was saved by {saved_world_size} processes, resuming with "
                f"{self.world_size}: iter rescaled, the run will not match an uninterrupted one"
            )
            position = None
            meta = {
                **meta,
                "epoch": int(checkpoint["resume"]["epoch"]),
                "iter": int(meta["iter"]) * saved_world_size // self.world_size,
            }
        if position is not None:
            self.epoch, self.iter = int(position["epoch"]), int(position["iter"])
            rng = position["ranks"][self.rank] if "ranks" in position else position
            if "ranks" not in position and self.world_size > 1:
                self.logger.warning(
                    f"{filename} holds one process's RNG states: every rank resumes on it, "
                    "so the run will not match an uninterrupted one"
                )
            self._epoch_start_rng = rng["rng_epoch_start"]
            inner = int(position["inner_iter"])
            self._resume_position = (inner, rng["rng"]) if inner > 0 else None
            self.gradient_step.load_state_dict(position.get("grad_scaler", {}))
        elif "epoch" in meta and "iter" in meta:
            self.epoch, self.iter = int(meta["epoch"]), int(meta["iter"])
        else:
            raise KeyError(
                f"cannot resume from {filename}: its meta has no 'epoch'/'iter' (use load_from for "
                "weights only)"
            )
        if resume_optimizer:
            if "optimizer" not in checkpoint:
                raise KeyError(
                    f"cannot resume from {filename}: it was saved without optimizer state"
                )
            trainable = [p.requires_grad for p in unwrap_model(self.model).parameters()]
            sizes = [len(group["params"]) for group in self.optimizer.param_groups]
            state = match_optimizer_state(checkpoint["optimizer"], trainable, sizes)
            self.optimizer.load_state_dict(dict(state))
        if "message_hub" in checkpoint:  # an MMEngine runner's checkpoint (MMDetection 3.x)
            self.logger.warning(
                f"resuming from the MMEngine checkpoint {filename}: restored epoch, iteration, "
                f"weights and optimizer; not restored: {'; '.join(unrestored_parts(checkpoint))}"
            )
        self.logger.info(f"resumed from {filename}: epoch {self.epoch}, iter {self.iter}")
        return checkpoint
