"""The MMDetection v2 transforms the augmentation preview (notebook 03) offers beside the
AutoAugment policies, built from the preview's controls.

Every entry maps the shared controls onto the transform's main arguments: ``level`` (0..10) is
its strength, ``prob`` its probability where it has one, ``fill`` (RGB) its fill colour.
Multi-image transforms (Mosaic, MixUp, CopyPaste) draw their partner images from the preview's
samples with the seeded NumPy RNG, as ``MultiImageMixDataset`` draws them from a dataset.
Transforms whose output is float32 (PhotoMetricDistortion) are clipped back to uint8 for
drawing; RandomCenterCropPad gets the float32 image it requires.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from detkit.registry import PIPELINES, build

__all__ = ["TRANSFORMS", "MULTI_IMAGE", "make_transform"]

Results = dict[str, Any]

MULTI_IMAGE = ("Mosaic", "MixUp", "CopyPaste")
TRANSFORMS = (
    "RandomCrop",
    "MinIoURandomCrop",
    "Expand",
    "RandomShift",
    "RandomAffine",
    "RandomCenterCropPad",
    "CutOut",
    "PhotoMetricDistortion",
    "YOLOXHSVRandomAug",
    "Albu",
    *MULTI_IMAGE,
)


def _config(
    name: str, level: float, prob: float, fill_bgr: tuple[float, ...], hw: tuple[int, int]
) -> dict:
    s = float(level) / 10  # 0..1
    h, w = hw
    if name == "RandomCrop":
        return dict(
            crop_size=(1 - 0.5 * s, 1 - 0.5 * s),
            crop_type="relative_range",
            allow_negative_crop=True,
        )
    if name == "MinIoURandomCrop":
        return dict(min_ious=(0.1, 0.3, 0.5), min_crop_size=1 - 0.7 * s)
    if name == "Expand":
        return dict(
            mean=fill_bgr, to_rgb=False, ratio_range=(1, 1 + 3 * s), seg_ignore_label=255, prob=prob
        )
    if name == "RandomShift":
        return dict(shift_ratio=prob, max_shift_px=int(1 + 0.2 * s * min(h, w)))
    if name == "RandomAffine":
        return dict(
            max_rotate_degree=30 * s,
            max_translate_ratio=0.2 * s,
            scaling_ratio_range=(1 - 0.5 * s, 1 + 0.5 * s),
            max_shear_degree=10 * s,
            border_val=tuple(int(v) for v in fill_bgr),
        )
    if name == "RandomCenterCropPad":
        return dict(
            crop_size=(h, w),
            ratios=(1 - 0.4 * s, 1.0, 1 + 0.4 * s),
            border=int(min(h, w) // 4),
            mean=fill_bgr,
            std=(1, 1, 1),
            to_rgb=False,
            test_pad_mode=None,
        )
    if name == "CutOut":
        return dict(
            n_holes=(1, max(2, int(1 + 9 * s))),
            cutout_ratio=[(0.1, 0.1), (0.2, 0.2)],
            fill_in=fill_bgr,
        )
    if name == "PhotoMetricDistortion":
        return dict(
            brightness_delta=64 * s,
            contrast_range=(1 - 0.5 * s, 1 + 0.5 * s),
            saturation_range=(1 - 0.5 * s, 1 + 0.5 * s),
            hue_delta=36 * s,
        )
    if name == "YOLOXHSVRandomAug":
        return dict(hue_delta=int(10 * s), saturation_delta=int(60 * s), value_delta=int(60 * s))
    if name == "Albu":
        return dict(
            transforms=[
                dict(
                    type="RandomBrightnessContrast",
                    brightness_limit=0.4 * s,
                    contrast_limit=0.4 * s,
                    p=prob,
                ),
                dict(type="HorizontalFlip", p=0.5),
            ],
            bbox_params=dict(
                type="BboxParams",
                format="pascal_voc",
                label_fields=["gt_labels"],
                filter_lost_elements=True,
            ),
        )
    if name == "Mosaic":
        return dict(
            img_scale=(h // 2, w // 2),
            center_ratio_range=(1 - 0.5 * s, 1 + 0.5 * s),
            pad_val=fill_bgr[0],
            prob=prob,
        )
    if name == "MixUp":
        return dict(img_scale=(h, w), ratio_range=(1 - 0.5 * s, 1 + 0.5 * s), pad_val=fill_bgr[0])
    if name == "CopyPaste":
        return dict(max_num_pasted=max(1, int(30 * s)))
    raise ValueError(f"transform must be one of {TRANSFORMS}, got {name!r}")


def make_transform(
    name: str,
    level: float,
    prob: float,
    fill_bgr: Sequence[float],
    samples: Sequence[Results],
    hw: tuple[int, int],
) -> Callable[[Results], Results | None]:
    """The callable the preview applies for transform ``name`` (see the module docstring)."""
    fill = tuple(float(v) for v in fill_bgr)
    transform = build(dict(type=name, **_config(name, level, prob, fill, hw)), PIPELINES)

    def apply(results: Results) -> Results | None:
        if name in MULTI_IMAGE:
            count = 3 if name == "Mosaic" else 1
            results["mix_results"] = [
                copy.deepcopy(samples[int(np.random.randint(0, len(samples)))])
                for _ in range(count)
            ]
        if name == "RandomCenterCropPad":
            results["img"] = results["img"].astype(np.float32)
        out = transform(results)
        if out is None:
            return None
        out.pop("mix_results", None)
        if out["img"].dtype != np.uint8:
            out["img"] = np.clip(out["img"], 0, 255).astype(np.uint8)
        return out

    return apply
