"""Augmentation preview logic for notebook 03: load samples, build a policy from UI choices,
apply it reproducibly, and draw original vs augmented (or a static grid of levels).

Transforms and datasets are built through the registries, so ``detkit.data`` must have been
imported (``detkit.build_dataset`` or ``import detkit.data`` does it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from detkit.registry import DATASETS, PIPELINES, build
from detkit.viz.draw import draw_instances
from detkit.viz.transform_menu import TRANSFORMS, make_transform

__all__ = [
    "POLICIES",
    "GRID_TRANSFORMS",
    "DIRECTIONS",
    "load_preview_samples",
    "config_policies",
    "make_policy",
    "augment_sample",
    "show_pair",
    "render_policy_grid",
]

POLICIES = ("Rotate", "Translate", "AutoAugment (config)", *TRANSFORMS)
GRID_TRANSFORMS = (
    "PhotoMetricDistortion",
    "RandomCrop",
    "Albu",
    "CopyPaste",
    "RandomAffine",
    "Mosaic",
)
DIRECTIONS = ("random", "positive", "negative")  # positive = clockwise / right / down
_NEGATIVE_PROB = {"random": 0.5, "positive": 0.0, "negative": 1.0}

Results = dict[str, Any]


def load_preview_samples(
    ann_file: str, img_prefix: str, num: int = 3, dataset_type: str = "CityscapesDataset"
) -> tuple[list[Results], list[str]]:
    """The first ``num`` samples of a COCO-format dataset as loaded results dicts (image,
    boxes, labels, bitmap masks), and the class names."""
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    ]
    dataset = build(
        dict(type=dataset_type, ann_file=ann_file, img_prefix=img_prefix, pipeline=pipeline),
        DATASETS,
    )
    if len(dataset) == 0:
        raise ValueError(f"{ann_file}: no images to preview")
    samples = [dataset.prepare_train_img(i) for i in range(min(num, len(dataset)))]
    return [s for s in samples if s is not None], list(dataset.CLASSES)


def config_policies(cfg: Any) -> list[list[dict]]:
    """The ``policies`` of the first ``AutoAugment`` in ``cfg.train_pipeline``."""
    for step in cfg.train_pipeline:
        if step.get("type") == "AutoAugment":
            return [[dict(t) for t in policy] for policy in step["policies"]]
    raise KeyError("the config's train_pipeline has no AutoAugment step")


def make_policy(
    policy: str,
    level: float = 5,
    prob: float = 1.0,
    direction: str = "random",
    axis: str = "horizontal",
    fill: Sequence[float] = (124, 116, 104),
    policies: list[list[dict]] | None = None,
    samples: Sequence[Results] | None = None,
) -> Callable[[Results], Results | None]:
    """Build the transform the preview UI describes.

    Args:
        policy: one of :data:`POLICIES`.
        level: 0..10 (Rotate: ``level * 3`` degrees; Translate: ``level * 25`` pixels).
        prob: probability of applying.
        direction: ``'random'`` sign, ``'positive'`` (clockwise / right / down) or ``'negative'``.
        axis: Translate direction, ``'horizontal'`` or ``'vertical'``.
        fill: image fill per channel, given in **RGB** and applied to the BGR image reversed.
        policies: the AutoAugment policies for ``'AutoAugment (config)'`` (level, prob,
            direction and fill are then those of the config).
        samples: the preview's samples: the image size of the size-dependent transforms and
            the partners of Mosaic / MixUp / CopyPaste (see :mod:`detkit.viz.transform_menu`).
    """
    if direction not in _NEGATIVE_PROB:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    fill_bgr = tuple(float(v) for v in reversed(tuple(fill)))
    common = dict(
        level=level,
        prob=prob,
        img_fill_val=fill_bgr,
        random_negative_prob=_NEGATIVE_PROB[direction],
    )
    if policy == "Rotate":
        return build(dict(type="Rotate", **common), PIPELINES)
    if policy == "Translate":
        return build(dict(type="Translate", direction=axis, **common), PIPELINES)
    if policy == "AutoAugment (config)":
        if not policies:
            raise ValueError("AutoAugment (config) needs the config's policies")
        return build(dict(type="AutoAugment", policies=policies), PIPELINES)
    if policy in TRANSFORMS:
        if not samples:
            raise ValueError(f"{policy} needs the preview's samples")
        hw = tuple(int(v) for v in samples[0]["img"].shape[:2])
        return make_transform(policy, level, prob, fill_bgr, samples, hw)  # type: ignore[arg-type]
    raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


def augment_sample(
    sample: Results, transform: Callable[[Results], Results | None], seed: int
) -> Results:
    """``transform`` applied to a deep copy of ``sample`` with ``np.random.seed(seed)``; the
    global NumPy RNG state is restored afterwards. A dropped sample returns the copy unchanged."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        out = transform(copy.deepcopy(sample))
    finally:
        np.random.set_state(state)
    return out if out is not None else copy.deepcopy(sample)


def _draw(ax: Any, results: Results, class_names: Sequence[str], title: str) -> None:
    draw_instances(
        ax,
        results["img"][..., ::-1],
        results["gt_bboxes"],
        results["gt_labels"],
        masks=results.get("gt_masks"),
        class_names=class_names,
        title=f"{title} ({len(results['gt_bboxes'])} instances)",
    )


def show_pair(
    original: Results, augmented: Results, class_names: Sequence[str], title: str = "augmented"
) -> Figure:
    """A figure with the original sample (left) and the augmented one (right)."""
    h, w = original["img"].shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(12, 12 * h / w / 2 + 0.6))
    _draw(axes[0], original, class_names, "original")
    _draw(axes[1], augmented, class_names, title)
    fig.tight_layout()
    return fig


def render_policy_grid(
    samples: Sequence[Results],
    class_names: Sequence[str],
    policies: list[list[dict]] | None = None,
    levels: Sequence[float] = (0, 5, 10),
    seed: int = 0,
) -> Figure:
    """Static grid for headless runs: one row per (sample, policy) with the original then each
    policy at each level (Rotate / Translate, prob 1, positive sign), if ``policies`` is
    given, draws of the config's AutoAugment, and a row of ``len(levels)`` of
    :data:`GRID_TRANSFORMS` at level 5, taken in turn (sample ``i`` from index
    ``i * len(levels)``, wrapping; multi-image ones draw partners from ``samples``)."""
    rows: list[tuple[Results, str, Sequence[tuple[str, Callable[[Results], Results | None]]]]] = []
    for i, sample in enumerate(samples):
        for name in ("Rotate", "Translate"):
            cells = [
                (f"{name} level {lv}", make_policy(name, lv, 1.0, "positive")) for lv in levels
            ]
            rows.append((sample, f"sample {i}", cells))
        if policies:
            aug = make_policy("AutoAugment (config)", policies=policies)
            rows.append(
                (
                    sample,
                    f"sample {i}",
                    [(f"AutoAugment seed {seed + k}", aug) for k in range(len(levels))],
                )
            )
        names = [
            GRID_TRANSFORMS[(i * len(levels) + k) % len(GRID_TRANSFORMS)]
            for k in range(len(levels))
        ]
        rows.append(
            (
                sample,
                f"sample {i}",
                [(name, make_policy(name, 5, 1.0, samples=samples)) for name in names],
            )
        )
    cols = 1 + len(levels)
    h, w = samples[0]["img"].shape[:2]
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(3.2 * cols, 3.2 * len(rows) * h / w + 0.4), squeeze=False
    )
    for r, (sample, label, row_cells) in enumerate(rows):
        _draw(axes[r, 0], sample, class_names, f"{label} original")
        for c, (title, transform) in enumerate(row_cells, start=1):
            _draw(axes[r, c], augment_sample(sample, transform, seed + c - 1), class_names, title)
    fig.tight_layout()
    return fig
