"""Dataset converters (Cityscapes -> COCO)."""

from detkit.data.convert.cityscapes import ConversionSummary, convert_cityscapes

__all__ = ["ConversionSummary", "convert_cityscapes"]
