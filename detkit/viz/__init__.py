"""All drawing: instances and detector results through one renderer (:mod:`detkit.viz.raster`:
masks, boxes and names drawn into a uint8 image that matplotlib only shows) for the CLI, the
API and the notebooks; the analysis tools' panels; charts of evaluations and annotation files;
the augmentation preview (static grid + ipywidgets UI); the error browser (ipywidgets)."""

from detkit.viz.annotations import AnnotatedImage, plot_annotated_images, render_annotations
from detkit.viz.charts import plot_annotation_stats, plot_class_ap
from detkit.viz.draw import (
    draw_instances,
    make_palette,
    masks_as_array,
    render_instances,
    show_image,
)
from detkit.viz.error_browser import ErrorBrowser
from detkit.viz.error_panels import PanelInstances, render_error_pair
from detkit.viz.panels import save_panels
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
    "AnnotatedImage",
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
    "plot_annotated_images",
    "plot_annotation_stats",
    "plot_class_ap",
    "read_rgb",
    "render_annotations",
    "render_error_pair",
    "render_instances",
    "render_policy_grid",
    "render_result",
    "save_panels",
    "show_image",
    "show_pair",
    "show_result",
]
