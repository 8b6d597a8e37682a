"""Instance-mask structures of MMDetection v2: :class:`BitmapMasks` and :class:`PolygonMasks`.

Both share one API (``rescale``, ``resize``, ``flip``, ``pad``, ``crop``, ``crop_and_resize``,
``expand``, ``translate``, ``shear``, ``rotate``, ``areas``, ``to_ndarray``, ``to_tensor``,
``get_bboxes``, indexing, ``len``); see their modules for the conventions.
"""

from detkit.structures.bitmap_masks import BitmapMasks, rescale_size
from detkit.structures.polygon_masks import PolygonMasks, polygon_to_bitmap

__all__ = ["BitmapMasks", "PolygonMasks", "polygon_to_bitmap", "rescale_size"]
