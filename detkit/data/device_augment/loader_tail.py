"""``PrepareDeviceBatch``: the end of the loader-side pipeline when augmentation runs on the
device (``device_augment``): it draws the sample's random choices and formats the loaded
sample, unaugmented, for collation.

The draws happen here, in the loader worker, in the per-sample pipeline's order (AutoAugment
policy, each step's ``prob`` and sign, the Resize scale, the flip), so they come from the same
RNG stream as the per-sample path: the same seed gives the same choices for any number of
workers, per rank (``worker_init_fn``), and an exact resume replays them. The sample that
leaves is ``img`` uint8 ``[3, H, W]`` BGR at the original size, ``gt_bboxes`` float32
``[N, 4]`` (xyxy absolute pixels), ``gt_labels`` int64 ``[N]``, ``gt_masks`` uint8
``[N, H, W]`` and ``img_metas`` (``filename``, ``ori_filename``, ``ori_shape``, ``img_shape``
and the draws under ``device_augment``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from detkit.data.transforms.batched import draw_autoaugment
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize
from detkit.structures.data_container import DataContainer
from detkit.structures.masks import BitmapMasks

__all__ = ["PrepareDeviceBatch", "DRAW_KEY", "LOADER_META_KEYS"]

DRAW_KEY = "device_augment"
LOADER_META_KEYS = ("filename", "ori_filename", "ori_shape", "img_shape")


def _step_index(aug: AutoAugment, transform: Any) -> tuple[int, int]:
    for p, policy in enumerate(aug.transforms):
        for s, candidate in enumerate(policy):
            if candidate is transform:
                return p, s
    raise LookupError(f"{transform!r} is not one of the AutoAugment policies")  # pragma: no cover


class PrepareDeviceBatch:
    """Draw (policy steps, scale, flip) and format a loaded sample (see the module docstring).

    Args:
        aug: the pipeline's AutoAugment, or None when it has none.
        resize, flip: the pipeline's Resize and RandomFlip (their draws only).
        keys: the original ``Collect`` keys (``img``, ``gt_bboxes``, ``gt_labels``, optional
            ``gt_masks``).
    """

    def __init__(
        self, aug: AutoAugment | None, resize: Resize, flip: RandomFlip, keys: Sequence[str]
    ) -> None:
        self.aug, self.resize, self.flip = aug, resize, flip
        self.keys = list(keys)

    def draw(self) -> dict[str, Any]:
        """One sample's choices: ``steps`` ``[(policy, step, signed value | None)]``,
        ``scale`` ``(w, h)``, ``flip`` direction or None."""
        steps = []
        if self.aug is not None:
            for step in draw_autoaugment(self.aug, 1)[0]:
                steps.append((*_step_index(self.aug, step.transform), step.value))
        scale: dict[str, Any] = {}
        self.resize.random_scale(scale)
        return dict(
            steps=steps,
            scale=tuple(int(v) for v in scale["scale"]),
            flip=self.flip.draw_direction(),
        )

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(
                f"device_augment needs 3-channel uint8 images after loading, got {img.dtype} "
                f"{img.shape} from {results.get('filename')}"
            )
        meta = {key: results[key] for key in LOADER_META_KEYS if key in results}
        meta[DRAW_KEY] = self.draw()
        # DataContainers as DefaultFormatBundle/Collect make them: collate pads and stacks the
        # images, keeps per-image boxes/labels/masks; scatter moves all but the metas
        data: dict[str, Any] = {
            "img_metas": DataContainer(meta, cpu_only=True),
            "img": DataContainer(
                torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), stack=True
            ),
            "gt_bboxes": DataContainer(
                torch.as_tensor(np.asarray(results["gt_bboxes"], dtype=np.float32)).reshape(-1, 4)
            ),
            "gt_labels": DataContainer(
                torch.as_tensor(np.asarray(results["gt_labels"], dtype=np.int64))
            ),
        }
        if "gt_masks" in self.keys:
            masks = results["gt_masks"]
            if not isinstance(masks, BitmapMasks):
                raise TypeError(
                    f"device_augment needs bitmap masks (LoadAnnotations(poly2mask=True)), got "
                    f"{type(masks).__name__} for {results.get('filename')}"
                )
            data["gt_masks"] = DataContainer(
                torch.from_numpy(
                    np.ascontiguousarray(masks.masks, dtype=np.uint8).reshape(
                        len(masks), *img.shape[:2]
                    )
                )
            )
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(aug={self.aug is not None}, keys={self.keys})"
