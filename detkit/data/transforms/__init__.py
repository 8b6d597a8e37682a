"""Pipeline transforms registered in ``PIPELINES`` (importing this module registers them all)."""

from detkit.data.transforms.compose import Compose
from detkit.data.transforms.filter_annotations import FilterAnnotations
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.formatting import Collect, DefaultFormatBundle, ImageToTensor, ToTensor, to_tensor
from detkit.data.transforms.geometric import Rotate, Shear, Translate
from detkit.data.transforms.loading import LoadAnnotations, LoadImageFromFile, read_image
from detkit.data.transforms.loading_variants import (
    LoadImageFromWebcam,
    LoadMultiChannelImageFromFiles,
    LoadProposals,
)
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.photometric import (
    BrightnessTransform,
    ColorTransform,
    ContrastTransform,
    EqualizeTransform,
)
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize
from detkit.data.transforms.test_time import MultiScaleFlipAug

__all__ = [
    "AutoAugment",
    "BrightnessTransform",
    "Collect",
    "ColorTransform",
    "Compose",
    "ContrastTransform",
    "DefaultFormatBundle",
    "EqualizeTransform",
    "FilterAnnotations",
    "ImageToTensor",
    "LoadAnnotations",
    "LoadImageFromFile",
    "LoadImageFromWebcam",
    "LoadMultiChannelImageFromFiles",
    "LoadProposals",
    "MultiScaleFlipAug",
    "Normalize",
    "Pad",
    "RandomFlip",
    "Resize",
    "Rotate",
    "Shear",
    "ToTensor",
    "Translate",
    "read_image",
    "to_tensor",
]
