"""Drawing helpers (matplotlib) and the augmentation preview (static grid + ipywidgets UI)."""

from detkit.viz.draw import draw_instances, make_palette, masks_as_array
from detkit.viz.preview import (
    augment_sample,
    config_policies,
    load_preview_samples,
    make_policy,
    render_policy_grid,
    show_pair,
)
from detkit.viz.widgets import AugmentationPreview, build_augmentation_ui

__all__ = [
    "AugmentationPreview",
    "augment_sample",
    "build_augmentation_ui",
    "config_policies",
    "draw_instances",
    "load_preview_samples",
    "make_palette",
    "make_policy",
    "masks_as_array",
    "render_policy_grid",
    "show_pair",
]
