"""``YOLOXModeSwitchHook`` (MMDetection v2.28): switch the strong multi-image augmentations off
for the last epochs, through ``MultiImageMixDataset.update_skip_type_keys``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detkit.checkpoint import unwrap_model
from detkit.engine.hooks.base import Hook
from detkit.registry import HOOKS

__all__ = ["YOLOXModeSwitchHook"]


def _mix_dataset(dataset: Any) -> Any:
    """The ``MultiImageMixDataset`` at or inside ``dataset`` (through ``RepeatDataset``-style
    ``.dataset`` wrappers)."""
    while dataset is not None and not hasattr(dataset, "update_skip_type_keys"):
        dataset = getattr(dataset, "dataset", None)
    return dataset


@HOOKS.register_module()
class YOLOXModeSwitchHook(Hook):
    """Before the epoch where ``epoch + 1 == max_epochs - num_last_epochs`` (mmdet's test),
    skip the transforms named ``skip_type_keys`` from then on, restart persistent data-loader
    workers so they see it, and turn on the head's L1 loss when it has ``use_l1`` (YOLOX).

    Args:
        num_last_epochs: epochs trained without the skipped transforms.
        skip_type_keys: transform type names to skip.
    """

    priority = "NORMAL"

    def __init__(
        self,
        num_last_epochs: int = 15,
        skip_type_keys: Sequence[str] = ("Mosaic", "RandomAffine", "MixUp"),
    ) -> None:
        self.num_last_epochs = num_last_epochs
        self.skip_type_keys = list(skip_type_keys)

    def before_train_epoch(self, runner: Any) -> None:
        if runner.epoch + 1 != runner.max_epochs - self.num_last_epochs:
            return
        loader = runner.data_loader
        dataset = _mix_dataset(getattr(loader, "dataset", None))
        if dataset is None:
            raise TypeError(
                "YOLOXModeSwitchHook needs a MultiImageMixDataset in the training data "
                f"(got {type(getattr(loader, 'dataset', None)).__name__})"
            )
        logger = getattr(runner, "logger", None)
        if logger is not None:
            logger.info(
                f"YOLOXModeSwitchHook: skipping {self.skip_type_keys} from epoch {runner.epoch + 1}"
            )
        dataset.update_skip_type_keys(self.skip_type_keys)
        if getattr(loader, "persistent_workers", False):
            loader._iterator = None  # the next iter() starts workers with the updated dataset
        head = getattr(unwrap_model(runner.model), "bbox_head", None)
        if head is not None and hasattr(head, "use_l1"):
            head.use_l1 = True
