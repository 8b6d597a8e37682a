"""``FeaturePyramid``: what a neck hands to the heads.

``levels`` are the output maps ``[B, C, H_l, W_l]``, finest first (FPN's P2..P6);
``laterals`` are, for necks that expose them (AugFPN in training, for Consistent
Supervision), the lateral maps before the top-down fusion, one per backbone level used,
finest first; None otherwise. The pyramid is sequence-like over its levels, so code that
indexes, slices or iterates feature levels (the RPN, RoI extractors, analysis) reads it as
the tuple of maps it used to get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import torch

__all__ = ["FeaturePyramid"]


@dataclass(frozen=True, eq=False)
class FeaturePyramid:
    """Multi-level feature maps (finest first) with the neck's optional ``laterals``."""

    levels: tuple[torch.Tensor, ...]
    laterals: tuple[torch.Tensor, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        if self.laterals is not None:
            object.__setattr__(self, "laterals", tuple(self.laterals))

    @classmethod
    def of(cls, maps: Sequence[torch.Tensor] | FeaturePyramid) -> FeaturePyramid:
        """``maps`` as a pyramid (itself when it is one; a backbone's tuple gets no laterals)."""
        return maps if isinstance(maps, FeaturePyramid) else cls(tuple(maps))

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> FeaturePyramid:
        """A pyramid with ``fn`` applied to every level and lateral."""
        laterals = None if self.laterals is None else tuple(fn(f) for f in self.laterals)
        return FeaturePyramid(tuple(fn(f) for f in self.levels), laterals)

    def __len__(self) -> int:
        return len(self.levels)

    @overload
    def __getitem__(self, index: int) -> torch.Tensor: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[torch.Tensor, ...]: ...

    def __getitem__(self, index: int | slice) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.levels[index]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.levels)
