"""Dense (per-location) heads: the RPN."""

from detkit.models.dense_heads.rpn_head import RPNHead, anchor_inside_flags

__all__ = ["RPNHead", "anchor_inside_flags"]
