"""Check that every head's ``num_classes`` equals the number of dataset classes (mmdet
``NumClassCheckHook``, section 4.16), before each train and val epoch."""

from __future__ import annotations

import warnings
from typing import Any

from detkit.checkpoint import unwrap_model
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["NumClassCheckHook"]

_EXEMPT = ("RPNHead", "GARPNHead", "VGG", "FusedSemanticHead")


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    def _check(self, runner: Any) -> None:
        dataset = runner.data_loader.dataset
        classes = getattr(dataset, "CLASSES", None)
        if classes is None:
            warnings.warn(
                f"{type(dataset).__name__} has no CLASSES; the head num_classes check is skipped",
                stacklevel=2,
            )
            return
        if isinstance(classes, str):
            raise TypeError(
                f"{type(dataset).__name__}.CLASSES is the string {classes!r}; use a tuple of class "
                "names, "
                f"e.g. ({classes!r},)"
            )
        for name, module in unwrap_model(runner.model).named_modules():
            num_classes = getattr(module, "num_classes", None)
            if num_classes is None or isinstance(module, type) or type(module).__name__ in _EXEMPT:
                continue
            if num_classes != len(classes):
                raise ValueError(
                    f"`num_classes` ({num_classes}) of {type(module).__name__} at model.{name} "
                    "does not match the "
                    f"{len(classes)} CLASSES {tuple(classes)} of {type(dataset).__name__}; set "
                    f"num_classes={len(classes)} "
                    "in every bbox/mask head of the config"
                )

    def before_train_epoch(self, runner: Any) -> None:
        self._check(runner)

    def before_val_epoch(self, runner: Any) -> None:
        self._check(runner)
