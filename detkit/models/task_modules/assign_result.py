"""``AssignResult`` (MMDetection v2): which gt each candidate box is assigned to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["AssignResult"]


def _ensure_rng(rng: int | np.random.RandomState | None) -> np.random.RandomState:
    """A ``RandomState``: NumPy's global one for None, a new seeded one for an int."""
    if rng is None:
        return np.random.mtrand._rand
    if isinstance(rng, int):
        return np.random.RandomState(rng)
    return rng


@dataclass
class AssignResult:
    """Assignment of N candidate boxes to G gt boxes.

    Attributes:
        num_gts: G.
        gt_inds: int64 ``[N]``: 0 negative, -1 ignored, i > 0 matched to gt ``i - 1``.
        max_overlaps: float ``[N]``: best IoU with any gt.
        labels: int64 ``[N]`` gt label of positives, -1 otherwise (None without labels).
    """

    num_gts: int
    gt_inds: torch.Tensor
    max_overlaps: torch.Tensor
    labels: torch.Tensor | None = None
    _extra_properties: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_preds(self) -> int:
        """N, the number of candidates."""
        return len(self.gt_inds)

    def set_extra_property(self, key: str, value: Any) -> None:
        """Attach ``value`` under ``key`` (shown in :attr:`info`); basic fields cannot be set."""
        if key in self.info_keys():
            raise KeyError(f"AssignResult: {key!r} is a basic field, not an extra property")
        self._extra_properties[key] = value

    def get_extra_property(self, key: str) -> Any:
        """The extra property ``key``, None when unset."""
        return self._extra_properties.get(key, None)

    @staticmethod
    def info_keys() -> tuple[str, ...]:
        return ("num_gts", "num_preds", "gt_inds", "max_overlaps", "labels")

    @property
    def info(self) -> dict[str, Any]:
        """The basic fields and the extra properties as a dict (mmdet ``AssignResult.info``)."""
        basic = {
            "num_gts": self.num_gts,
            "num_preds": self.num_preds,
            "gt_inds": self.gt_inds,
            "max_overlaps": self.max_overlaps,
            "labels": self.labels,
        }
        basic.update(self._extra_properties)
        return basic

    def __str__(self) -> str:
        parts = [f"num_gts={self.num_gts!r}"]
        for name in ("gt_inds", "max_overlaps", "labels"):
            value = getattr(self, name)
            parts.append(
                f"{name}={value!r}" if value is None else f"{name}.shape={tuple(value.shape)!r}"
            )
        return f"<AssignResult({', '.join(parts)})>"

    @classmethod
    def random(cls, **kwargs: Any) -> AssignResult:
        """A random result for tests (MMDetection v2's ``AssignResult.random``, same draws).

        Keyword Args:
            num_gts (int): G (default: random in [0, 8)).
            num_preds (int): N (default: random in [0, 16)).
            p_ignore (float): chance an assigned candidate is ignored (0.3).
            p_assigned (float): chance a candidate is assigned (0.7).
            p_use_label (float | bool): chance to create labels (0.5; True always).
            num_classes (int): labels drawn in ``[0, num_classes)`` (3).
            rng (None | int | RandomState): the random source (NumPy's global one).
        """
        known = {
            "num_gts",
            "num_preds",
            "p_ignore",
            "p_assigned",
            "p_use_label",
            "num_classes",
            "rng",
        }
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"AssignResult.random got unknown arguments {unknown}; accepted: {sorted(known)}"
            )
        rng = _ensure_rng(kwargs.get("rng"))
        num_gts = kwargs.get("num_gts")
        num_preds = kwargs.get("num_preds")
        p_ignore = kwargs.get("p_ignore", 0.3)
        p_assigned = kwargs.get("p_assigned", 0.7)
        p_use_label = kwargs.get("p_use_label", 0.5)
        num_classes = kwargs.get("num_classes", 3)
        if num_gts is None:
            num_gts = rng.randint(0, 8)
        if num_preds is None:
            num_preds = rng.randint(0, 16)
        if num_gts == 0:
            max_overlaps = torch.zeros(num_preds, dtype=torch.float32)
            gt_inds = torch.zeros(num_preds, dtype=torch.int64)
            use_label = p_use_label is True or p_use_label < rng.rand()
            labels = torch.zeros(num_preds, dtype=torch.int64) if use_label else None
            return cls(int(num_gts), gt_inds, max_overlaps, labels)
        max_overlaps = torch.from_numpy(rng.rand(num_preds))
        is_assigned = torch.from_numpy(rng.rand(num_preds) < p_assigned)
        n_assigned = min(num_preds, min(num_gts, int(is_assigned.sum())))
        assigned_idxs = np.where(is_assigned.numpy())[0]
        rng.shuffle(assigned_idxs)
        assigned_idxs = np.sort(assigned_idxs[:n_assigned])
        is_assigned[:] = False
        is_assigned[torch.from_numpy(assigned_idxs)] = True
        is_ignore = torch.from_numpy(rng.rand(num_preds) < p_ignore) & is_assigned
        true_idxs = np.arange(num_gts)
        rng.shuffle(true_idxs)  # drawn as mmdet does, so later draws match for one seed
        gt_inds = torch.from_numpy(rng.randint(1, num_gts + 1, size=num_preds)).long()
        gt_inds[is_ignore] = -1
        gt_inds[~is_assigned] = 0
        max_overlaps[~is_assigned] = 0
        labels = None
        if p_use_label is True or p_use_label < rng.rand():
            if num_classes == 0:
                labels = torch.zeros(num_preds, dtype=torch.int64)
            else:
                labels = torch.from_numpy(rng.randint(0, num_classes, size=num_preds)).long()
                labels[~is_assigned] = 0
        return cls(int(num_gts), gt_inds, max_overlaps, labels)

    def add_gt_(self, gt_labels: torch.Tensor) -> None:
        """Prepend the gts themselves as candidates matched to themselves (IoU 1)."""
        self_inds = torch.arange(1, len(gt_labels) + 1, dtype=torch.long, device=gt_labels.device)
        self.gt_inds = torch.cat([self_inds, self.gt_inds])
        self.max_overlaps = torch.cat(
            [self.max_overlaps.new_ones(len(gt_labels)), self.max_overlaps]
        )
        if self.labels is not None:
            self.labels = torch.cat([gt_labels, self.labels])
