"""Backbones (registered in ``MODELS``)."""

from detkit.models.backbones.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]
