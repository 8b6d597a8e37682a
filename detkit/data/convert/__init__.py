"""Dataset converters (Cityscapes -> COCO)."""

from detkit.data.convert.cityscapes import ConversionSummary, convert_cityscapes
from detkit.data.convert.json_io import write_json_atomic

__all__ = ["ConversionSummary", "convert_cityscapes", "write_json_atomic"]
