"""Detectors and their builder."""

from detkit.models.detectors.base import BaseDetector, parse_losses
from detkit.models.detectors.builder import build_detector
from detkit.models.detectors.two_stage import CascadeRCNN, FasterRCNN, MaskRCNN, TwoStageDetector

__all__ = [
    "BaseDetector",
    "CascadeRCNN",
    "FasterRCNN",
    "MaskRCNN",
    "TwoStageDetector",
    "build_detector",
    "parse_losses",
]
