"""What the RoI heads' stage loop passes around: one stage's output, one stage's losses, the
loop's result, and the per-stage config helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from detkit.models.task_modules import SamplingResult
from detkit.structures.instances import Instances

__all__ = [
    "BoxStageOutput",
    "BoxStagesResult",
    "StageLosses",
    "kept_after_refine",
    "one_config",
    "per_stage",
    "sampled_rois",
]


@dataclass(frozen=True)
class BoxStageOutput:
    """One box stage on ``rois`` (``boxes`` ``[K, 4]``, ``image_index`` ``[K]``): class logits
    ``[K, C+1]`` and deltas ``[K, 4 or 4C]`` (float32)."""

    rois: Instances
    cls_score: torch.Tensor
    bbox_pred: torch.Tensor


@dataclass(frozen=True)
class StageLosses:
    """One stage's losses and the target labels of its sampled RoIs (``[K]``, ``num_classes``
    = background), which pick the deltas that refine the boxes for the next stage."""

    losses: dict[str, torch.Tensor]
    labels: torch.Tensor


@dataclass(frozen=True)
class BoxStagesResult:
    """The stage loop's result: the losses (training), or the last stage's input ``rois``,
    the class logits averaged over the stages and the last stage's deltas (inference)."""

    losses: dict[str, torch.Tensor]
    rois: Instances | None = None
    cls_score: torch.Tensor | None = None
    bbox_pred: torch.Tensor | None = None


def one_config(cfg: Any) -> bool:
    """A per-stage config that builds the same module for every stage: one config (replicated)
    or a list of equal ones."""
    if isinstance(cfg, (list, tuple)):
        return all(c == cfg[0] for c in cfg[1:])
    return isinstance(cfg, Mapping)


def per_stage(cfg: Any, num_stages: int, name: str) -> list[Any]:
    if isinstance(cfg, (list, tuple)):
        if len(cfg) != num_stages:
            raise ValueError(
                f"CascadeRoIHead: {name} has {len(cfg)} entries for num_stages={num_stages}"
            )
        return list(cfg)
    return [cfg] * num_stages


def sampled_rois(sampling: Sequence[SamplingResult]) -> Instances:
    """The sampled RoIs of a batch, flat: each image's positives then negatives."""
    return Instances.batch([Instances(boxes=res.bboxes) for res in sampling])


def kept_after_refine(sampling: Sequence[SamplingResult]) -> torch.Tensor:
    """Bool ``[K]`` over the sampled RoIs of a batch (each image's positives then negatives):
    False for the gt boxes the sampler added as proposals, which the next stage does not
    start from."""
    keep = [
        torch.cat([res.pos_is_gt == 0, res.pos_is_gt.new_ones(res.neg_bboxes.size(0)).bool()])
        for res in sampling
    ]
    return torch.cat(keep)
