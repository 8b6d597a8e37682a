"""Necks (registered in ``MODELS``)."""

from detkit.models.necks.augfpn import AugFPN
from detkit.models.necks.fpn import FPN

__all__ = ["AugFPN", "FPN"]
