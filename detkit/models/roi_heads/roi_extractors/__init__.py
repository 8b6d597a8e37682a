"""RoI feature extractors (registered in ``MODELS``): ``SingleRoIExtractor`` (one level per
RoI, by scale) and AugFPN's Soft RoI Selection ``SoftRoIExtractor`` (all levels, fused)."""

from detkit.models.roi_heads.roi_extractors.roi_layers import (
    build_roi_layers,
    pool_rois_per_level,
    rescale_rois,
)
from detkit.models.roi_heads.roi_extractors.single_level import SingleRoIExtractor
from detkit.models.roi_heads.roi_extractors.soft_roi_selection import SoftRoIExtractor

__all__ = [
    "SingleRoIExtractor",
    "SoftRoIExtractor",
    "build_roi_layers",
    "pool_rois_per_level",
    "rescale_rois",
]
