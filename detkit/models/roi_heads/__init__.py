"""RoI heads: extractors, box/mask heads, the standard and the cascade RoI head."""

from detkit.models.roi_heads.bbox_head import (
    ConvFCBBoxHead,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
)
from detkit.models.roi_heads.cascade_roi_head import CascadeRoIHead
from detkit.models.roi_heads.consistent_supervision import AugFPNCascadeRoIHead
from detkit.models.roi_heads.mask_head import FCNMaskHead
from detkit.models.roi_heads.roi_extractors import SingleRoIExtractor, SoftRoIExtractor
from detkit.models.roi_heads.standard_roi_head import StandardRoIHead

__all__ = [
    "AugFPNCascadeRoIHead",
    "CascadeRoIHead",
    "ConvFCBBoxHead",
    "FCNMaskHead",
    "Shared2FCBBoxHead",
    "Shared4Conv1FCBBoxHead",
    "SingleRoIExtractor",
    "SoftRoIExtractor",
    "StandardRoIHead",
]
