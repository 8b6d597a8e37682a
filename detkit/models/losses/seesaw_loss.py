"""``SeesawLoss`` (Wang et al., CVPR 2021; MMDetection v2) for long-tailed classification.

The classifier has ``num_classes + 2`` logits: ``num_classes`` class logits and two
objectness logits (object, background). A RoI labelled ``c < num_classes`` is an object of
class ``c``; ``num_classes`` is background. Two losses:

- objectness: softmax cross-entropy of the 2 objectness logits (label 0 = object,
  1 = background) over every RoI;
- classes: over the object RoIs only, softmax cross-entropy of the class logits where every
  negative logit ``j`` is shifted by ``log S_cj``, ``S = M * C``:
  mitigation ``M_cj = (N_j / N_c) ** p`` where class ``j`` was seen less often than ``c``
  (``N``: samples seen so far, the ``cum_samples`` buffer, updated by every forward) and
  compensation ``C_cj = (sigma_j / sigma_c) ** q`` where ``j``'s softmax score exceeds the
  true class's (``sigma_c`` clamped to ``eps``); both are 1 elsewhere.

A box head asks the loss for its channels, activation and accuracy (``custom_cls_channels``,
``custom_activation``, ``custom_accuracy``): scores are the class softmax times the object
probability, followed by the background probability, ``[N, num_classes + 1]``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from detkit.models.losses.accuracy import accuracy
from detkit.models.losses.cross_entropy_loss import cross_entropy
from detkit.models.losses.utils import check_reduction, weight_reduce_loss
from detkit.registry import MODELS

__all__ = ["SeesawLoss", "seesaw_ce_loss"]


def seesaw_ce_loss(
    cls_score: torch.Tensor,
    labels: torch.Tensor,
    label_weights: torch.Tensor | None,
    cum_samples: torch.Tensor,
    num_classes: int,
    p: float,
    q: float,
    eps: float,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Seesaw cross-entropy of class logits ``[N, num_classes]`` and labels ``[N]`` (all
    ``< num_classes``), with sample weights ``[N]`` and class counts ``cum_samples
    [num_classes]``."""
    if cls_score.size(-1) != num_classes or len(cum_samples) != num_classes:
        raise ValueError(
            f"seesaw_ce_loss: cls_score {tuple(cls_score.shape)} and cum_samples "
            f"{tuple(cum_samples.shape)} must both have num_classes={num_classes} entries"
        )
    onehot = F.one_hot(labels, num_classes)
    seesaw_weights = cls_score.new_ones(onehot.size())
    if p > 0:
        # ratio[i, j] = N_j / N_i; only the classes seen less often than the label mitigate
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (ratio < 1.0).float()
        sample_weights = ratio.pow(p) * index + (1 - index)
        seesaw_weights = seesaw_weights * sample_weights[labels.long(), :]
    if q > 0:
        scores = F.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(scores), device=scores.device), labels.long()]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).float()
        seesaw_weights = seesaw_weights * (score_matrix.pow(q) * index + (1 - index))
    cls_score = cls_score + seesaw_weights.log() * (1 - onehot)
    loss = F.cross_entropy(cls_score, labels, weight=None, reduction="none")
    if label_weights is not None:
        label_weights = label_weights.float()
    return weight_reduce_loss(loss, label_weights, reduction, avg_factor)


@MODELS.register_module()
class SeesawLoss(nn.Module):
    """Seesaw loss on ``[N, num_classes + 2]`` logits.

    Args:
        use_sigmoid: must be False.
        p: mitigation exponent.
        q: compensation exponent.
        num_classes: foreground classes (1203 for LVIS v1).
        eps: floor of the true class's score in the compensation factor.
        reduction: none / mean / sum.
        loss_weight: multiplier of both losses.
        return_dict: return ``{'loss_cls_objectness', 'loss_cls_classes'}`` instead of their
            sum.

    The buffer ``cum_samples [num_classes + 1]`` (the last entry counts background) is part
    of the state dict, as in mmdet's checkpoints.
    """

    cum_samples: torch.Tensor

    def __init__(
        self,
        use_sigmoid: bool = False,
        p: float = 0.8,
        q: float = 2.0,
        num_classes: int = 1203,
        eps: float = 1e-2,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        return_dict: bool = True,
    ) -> None:
        super().__init__()
        if use_sigmoid:
            raise ValueError("SeesawLoss: only the softmax form is supported (use_sigmoid=False)")
        self.use_sigmoid = False
        self.p = p
        self.q = q
        self.num_classes = num_classes
        self.eps = eps
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight
        self.return_dict = return_dict
        self.register_buffer("cum_samples", torch.zeros(num_classes + 1, dtype=torch.float))
        self.custom_cls_channels = True
        self.custom_activation = True
        self.custom_accuracy = True

    def _split_cls_score(self, cls_score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if cls_score.size(-1) != self.num_classes + 2:
            raise ValueError(
                f"SeesawLoss: cls_score has {cls_score.size(-1)} channels, expected "
                f"num_classes + 2 = {self.num_classes + 2}"
            )
        return cls_score[..., :-2], cls_score[..., -2:]

    def get_cls_channels(self, num_classes: int) -> int:
        """Logits the classifier must output for ``num_classes`` classes (``+ 2``)."""
        if num_classes != self.num_classes:
            raise ValueError(
                f"SeesawLoss(num_classes={self.num_classes}) used by a head with "
                f"num_classes={num_classes}"
            )
        return num_classes + 2

    def get_activation(self, cls_score: torch.Tensor) -> torch.Tensor:
        """Scores ``[N, num_classes + 1]`` of logits ``[N, num_classes + 2]``: class softmax times
        the object probability, then the background probability."""
        classes, objectness = self._split_cls_score(cls_score)
        score_classes = F.softmax(classes, dim=-1)
        score_objectness = F.softmax(objectness, dim=-1)
        return torch.cat(
            [score_classes * score_objectness[..., [0]], score_objectness[..., [1]]], dim=-1
        )

    def get_accuracy(
        self, cls_score: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``acc_objectness`` over all RoIs and ``acc_classes`` over the object RoIs (percent)."""
        pos_inds = labels < self.num_classes
        obj_labels = (labels == self.num_classes).long()
        classes, objectness = self._split_cls_score(cls_score)
        return {
            "acc_objectness": accuracy(objectness, obj_labels),
            "acc_classes": accuracy(classes[pos_inds], labels[pos_inds]),
        }

    def forward(
        self,
        cls_score: torch.Tensor,
        labels: torch.Tensor,
        label_weights: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Losses of logits ``[N, num_classes + 2]`` and labels ``[N]`` in ``[0, num_classes]``;
        counts this batch's labels into ``cum_samples`` first."""
        reduction = check_reduction(reduction_override or self.reduction)
        classes, objectness = self._split_cls_score(cls_score)
        pos_inds = labels < self.num_classes
        obj_labels = (labels == self.num_classes).long()
        self.cum_samples += torch.bincount(labels, minlength=self.num_classes + 1).to(
            self.cum_samples.dtype
        )
        if label_weights is not None:
            label_weights = label_weights.float()
        else:
            label_weights = labels.new_ones(labels.size(), dtype=torch.float)
        if pos_inds.any():
            loss_classes = self.loss_weight * seesaw_ce_loss(
                classes[pos_inds],
                labels[pos_inds],
                label_weights[pos_inds],
                self.cum_samples[: self.num_classes],
                self.num_classes,
                self.p,
                self.q,
                self.eps,
                reduction,
                avg_factor,
            )
        else:
            loss_classes = classes[pos_inds].sum()
        loss_objectness = self.loss_weight * cross_entropy(
            objectness, obj_labels, label_weights, reduction, avg_factor
        )
        if self.return_dict:
            return {"loss_cls_objectness": loss_objectness, "loss_cls_classes": loss_classes}
        return loss_classes + loss_objectness
