"""Backbones (registered in ``MODELS``)."""

from detkit.models.backbones.resnet import BasicBlock, Bottleneck, ResLayer, ResNet, ResNetV1d

__all__ = ["ResNet", "ResNetV1d", "ResLayer", "BasicBlock", "Bottleneck"]
