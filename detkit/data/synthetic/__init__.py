"""Cityscapes-format synthetic sample (``python -m detkit.data.synthetic --help``)."""

from detkit.data.synthetic.scene import INSTANCE_LABELS, make_scene
from detkit.data.synthetic.writer import (
    CITIES,
    SampleSummary,
    generate_cityscapes_sample,
    render_id_images,
)

__all__ = [
    "CITIES",
    "INSTANCE_LABELS",
    "SampleSummary",
    "generate_cityscapes_sample",
    "make_scene",
    "render_id_images",
]
