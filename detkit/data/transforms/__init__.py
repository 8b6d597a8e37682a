"""Pipeline transforms registered in ``PIPELINES`` (which imports this package on its first
lookup)."""

from detkit.data.transforms.affine import RandomAffine, RandomShift
from detkit.data.transforms.albu import Albu
from detkit.data.transforms.center_crop_pad import RandomCenterCropPad
from detkit.data.transforms.compose import Compose
from detkit.data.transforms.copy_paste import CopyPaste
from detkit.data.transforms.crop import MinIoURandomCrop, RandomCrop
from detkit.data.transforms.expand import Expand
from detkit.data.transforms.filter_annotations import FilterAnnotations
from detkit.data.transforms.flip import RandomFlip
from detkit.data.transforms.formatting import (
    Collect,
    DefaultFormatBundle,
    ImageToTensor,
    ToTensor,
    to_tensor,
)
from detkit.data.transforms.geometric import Rotate, Shear, Translate
from detkit.data.transforms.loading import LoadAnnotations, LoadImageFromFile, read_image
from detkit.data.transforms.loading_variants import (
    LoadImageFromArray,
    LoadImageFromWebcam,
    LoadMultiChannelImageFromFiles,
    LoadProposals,
)
from detkit.data.transforms.mix import MixUp, Mosaic
from detkit.data.transforms.normalize import Normalize
from detkit.data.transforms.pad import Pad
from detkit.data.transforms.photometric import (
    BrightnessTransform,
    ColorTransform,
    ContrastTransform,
    EqualizeTransform,
)
from detkit.data.transforms.photometric_distort import (
    CutOut,
    PhotoMetricDistortion,
    YOLOXHSVRandomAug,
)
from detkit.data.transforms.policies import AutoAugment
from detkit.data.transforms.resize import Resize
from detkit.data.transforms.seg_rescale import SegRescale
from detkit.data.transforms.test_time import MultiScaleFlipAug
from detkit.data.transforms.v3_geometric import (
    RotateV3,
    ShearXV3,
    ShearYV3,
    TranslateXV3,
    TranslateYV3,
)
from detkit.data.transforms.v3_resize import RandomResizeV3

__all__ = [
    "Albu",
    "AutoAugment",
    "BrightnessTransform",
    "Collect",
    "ColorTransform",
    "Compose",
    "ContrastTransform",
    "CopyPaste",
    "CutOut",
    "DefaultFormatBundle",
    "EqualizeTransform",
    "Expand",
    "FilterAnnotations",
    "ImageToTensor",
    "LoadAnnotations",
    "LoadImageFromArray",
    "LoadImageFromFile",
    "LoadImageFromWebcam",
    "LoadMultiChannelImageFromFiles",
    "LoadProposals",
    "MinIoURandomCrop",
    "MixUp",
    "Mosaic",
    "MultiScaleFlipAug",
    "Normalize",
    "Pad",
    "PhotoMetricDistortion",
    "RandomAffine",
    "RandomCenterCropPad",
    "RandomCrop",
    "RandomFlip",
    "RandomResizeV3",
    "RandomShift",
    "Resize",
    "Rotate",
    "RotateV3",
    "SegRescale",
    "Shear",
    "ShearXV3",
    "ShearYV3",
    "ToTensor",
    "Translate",
    "TranslateXV3",
    "TranslateYV3",
    "YOLOXHSVRandomAug",
    "read_image",
    "to_tensor",
]
