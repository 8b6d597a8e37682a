"""Pipeline transforms registered in ``PIPELINES`` (importing this module registers them all)."""

from detkit.data.transforms.compose import Compose
from detkit.data.transforms.formatting import Collect, DefaultFormatBundle, ImageToTensor, ToTensor, to_tensor
from detkit.data.transforms.loading import LoadAnnotations, LoadImageFromFile, read_image

__all__ = ["Collect", "Compose", "DefaultFormatBundle", "ImageToTensor", "LoadAnnotations", "LoadImageFromFile",
           "ToTensor", "read_image", "to_tensor"]
