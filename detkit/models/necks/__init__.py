"""Necks (registered in ``MODELS``)."""

from detkit.models.necks.fpn import FPN

__all__ = ["FPN"]
