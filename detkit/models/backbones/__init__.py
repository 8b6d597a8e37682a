"""Backbones (registered in ``MODELS``)."""

from detkit.models.backbones.hrnet import HRNet
from detkit.models.backbones.regnet import RegNet
from detkit.models.backbones.res2net import Res2Net
from detkit.models.backbones.resnest import ResNeSt
from detkit.models.backbones.resnet import BasicBlock, Bottleneck, ResLayer, ResNet, ResNetV1d
from detkit.models.backbones.resnext import ResNeXt
from detkit.models.backbones.swin import SwinTransformer

__all__ = [
    "BasicBlock",
    "HRNet",
    "Bottleneck",
    "RegNet",
    "Res2Net",
    "ResLayer",
    "ResNeSt",
    "ResNeXt",
    "ResNet",
    "ResNetV1d",
    "SwinTransformer",
]
