"""Data: datasets, pipeline transforms, loaders, the Cityscapes converter and the synthetic sample.

``DATASETS`` and ``PIPELINES`` import ``detkit.data.datasets`` / ``detkit.data.transforms`` on
their first lookup, so nothing needs importing for registration.
"""

from detkit.data import transforms
from detkit.data.convert import ConversionSummary, convert_cityscapes
from detkit.data.datasets import (
    CityscapesDataset,
    CocoDataset,
    ConcatDataset,
    CustomDataset,
    MultiImageMixDataset,
    RepeatDataset,
    VOCDataset,
    XMLDataset,
    build_dataset,
)
from detkit.data.device_augment import DeviceAugment, PrepareDeviceBatch, split_device_augment
from detkit.data.inspect import AnnotationStats, coco_stats, show_annotated_images
from detkit.data.loaders import DistributedGroupSampler, GroupSampler, build_dataloader, collate
from detkit.data.synthetic import generate_cityscapes_sample

__all__ = [
    "AnnotationStats",
    "coco_stats",
    "show_annotated_images",
    "CityscapesDataset",
    "CocoDataset",
    "ConcatDataset",
    "ConversionSummary",
    "CustomDataset",
    "DeviceAugment",
    "MultiImageMixDataset",
    "DistributedGroupSampler",
    "GroupSampler",
    "PrepareDeviceBatch",
    "RepeatDataset",
    "VOCDataset",
    "XMLDataset",
    "build_dataloader",
    "transforms",
    "build_dataset",
    "collate",
    "convert_cityscapes",
    "generate_cityscapes_sample",
    "split_device_augment",
]
