"""Drawing (matplotlib): instances, detector results (the one path for CLI, API and notebooks),
the augmentation preview (static grid + ipywidgets UI) and the error browser (ipywidgets)."""

from detkit.viz.draw import draw_instances, make_palette, masks_as_array
from detkit.viz.error_browser import ErrorBrowser
from detkit.viz.error_panels import PanelInstances, render_error_pair
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
    "ErrorBrowser",
    "PanelInstances",
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
    "render_error_pair",
    "render_policy_grid",
    "render_result",
    "show_pair",
    "show_result",
]
