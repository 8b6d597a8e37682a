"""Give the data sampler the epoch number, so per-epoch shuffles differ between epochs but are
reproducible (mmcv ``DistSamplerSeedHook``; also used for non-distributed group samplers)."""

from __future__ import annotations

from typing import Any

from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["DistSamplerSeedHook"]


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    priority = "NORMAL"

    def before_epoch(self, runner: Any) -> None:
        loader = runner.data_loader
        for sampler in (
            getattr(loader, "sampler", None),
            getattr(getattr(loader, "batch_sampler", None), "sampler", None),
        ):
            set_epoch = getattr(sampler, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(runner.epoch)
                return
