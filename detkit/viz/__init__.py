"""Drawing (matplotlib): instances, detector results (the one path for CLI, API and notebooks),
and the augmentation preview (static grid + ipywidgets UI)."""

from detkit.viz.draw import draw_instances, make_palette, masks_as_array
from detkit.viz.preview import (
    augment_sample,
    config_policies,
    load_preview_samples,
    make_policy,
    render_policy_grid,
    show_pair,
)
from detkit.viz.result import as_detection_result, draw_result, read_rgb, render_result, show_result
from detkit.viz.widgets import AugmentationPreview, build_augmentation_ui

__all__ = [
    "AugmentationPreview",
    "as_detection_result",
    "augment_sample",
    "build_augmentation_ui",
    "config_policies",
    "draw_instances",
    "draw_result",
    "load_preview_samples",
    "make_palette",
    "make_policy",
    "masks_as_array",
    "read_rgb",
    "render_policy_grid",
    "render_result",
    "show_pair",
    "show_result",
]
