"""Datasets registered in ``DATASETS`` and ``build_dataset``."""

from detkit.data.datasets.builder import build_dataset
from detkit.data.datasets.cityscapes import CityscapesDataset
from detkit.data.datasets.coco import CocoDataset
from detkit.data.datasets.custom import CustomDataset
from detkit.data.datasets.multi_image_mix import MultiImageMixDataset
from detkit.data.datasets.voc import VOCDataset, XMLDataset
from detkit.data.datasets.wrappers import ConcatDataset, RepeatDataset

__all__ = [
    "CityscapesDataset",
    "CocoDataset",
    "ConcatDataset",
    "CustomDataset",
    "MultiImageMixDataset",
    "RepeatDataset",
    "VOCDataset",
    "XMLDataset",
    "build_dataset",
]
