"""``BaseDetector``: MMDetection v2's calling conventions (``forward(img, img_metas,
return_loss)``, ``forward_train``, ``forward_test``, ``train_step``), the one test-time
dispatch (:func:`predict_views`) and the feature extractor options (``channels_last``,
``torch.compile``, carried out by ``detkit.ops``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import torch
import torch.distributed as dist
import torch.nn as nn

from detkit.ops import LazyCompiled, parse_compile_option, roi_pooling_layout, to_channels_last
from detkit.structures import mmdet_boundary as mmdet
from detkit.structures.feature_pyramid import FeaturePyramid
from detkit.structures.image_meta import ImageMeta, image_metas
from detkit.structures.instances import Instances
from detkit.structures.results import DetectionResult

__all__ = ["BaseDetector", "Predictor", "parse_losses", "predict_views"]


def parse_losses(losses: Mapping[str, Any]) -> tuple[torch.Tensor, OrderedDict[str, float]]:
    """mmdet ``_parse_losses``: mean of each entry (lists: sum of means); the total is the sum
    of the entries whose key contains ``'loss'``; ``log_vars`` holds floats (averaged over
    ranks when distributed) plus ``'loss'``."""
    log_vars: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
        elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
            log_vars[name] = sum(v.mean() for v in value)
        else:
            raise TypeError(
                f"loss entry {name!r} is not a tensor or a list of tensors: {type(value).__name__}"
            )
    # as mmdet: 0 (an int) when no entry is named loss*
    loss = cast(torch.Tensor, sum(v for k, v in log_vars.items() if "loss" in k))
    distributed = dist.is_available() and dist.is_initialized()
    if distributed:
        count = torch.tensor(len(log_vars), device=loss.device)
        dist.all_reduce(count)
        if count.item() != len(log_vars) * dist.get_world_size():
            raise RuntimeError(
                f"loss keys differ between ranks on rank {dist.get_rank()}: {','.join(log_vars)}"
            )
    log_vars["loss"] = loss
    out: OrderedDict[str, float] = OrderedDict()
    for name, value in log_vars.items():
        if distributed:
            value = value.detach().clone()
            dist.all_reduce(value.div_(dist.get_world_size()))
        out[name] = value.item()
    return loss, out


class Predictor(Protocol):
    """What test-time dispatch calls: an eager detector or an exported one
    (``detkit.deploy``)."""

    def predict(
        self,
        img: torch.Tensor,
        img_metas: Sequence[Any],
        proposals: Sequence[torch.Tensor] | None = None,
        rescale: bool = False,
    ) -> list[DetectionResult]: ...

    def predict_aug(
        self,
        imgs: Sequence[torch.Tensor],
        img_metas: Sequence[Sequence[Any]],
        rescale: bool = False,
    ) -> list[DetectionResult]: ...


def predict_views(
    predictor: Predictor,
    imgs: list[torch.Tensor],
    img_metas: list[list[Any]],
    rescale: bool = False,
    proposals: list[Sequence[torch.Tensor]] | None = None,
) -> list[DetectionResult]:
    """The one test-time dispatch (``forward_test``, ``predict_images``, exported detectors):
    ``imgs``/``img_metas`` are lists over test-time augmentations (as ``MultiScaleFlipAug``
    makes them); one view runs ``predict`` on the whole batch, several ``predict_aug``
    (batch size 1). ``proposals``: one list of per-image ``[N, 4|5]`` per view."""
    for var, name in ((imgs, "imgs"), (img_metas, "img_metas")):
        if not isinstance(var, list):
            raise TypeError(f"{name} must be a list over augmentations, got {type(var).__name__}")
    if len(imgs) != len(img_metas):
        raise ValueError(
            f"num of augmentations ({len(imgs)}) != num of image meta ({len(img_metas)})"
        )
    if len(imgs) == 1:
        view_proposals = None if proposals is None else proposals[0]
        return predictor.predict(imgs[0], img_metas[0], proposals=view_proposals, rescale=rescale)
    if imgs[0].size(0) != 1:
        raise ValueError(f"aug test needs batch size 1, got {imgs[0].size(0)}")
    if proposals is not None:
        raise ValueError("aug test does not take precomputed proposals")
    return predictor.predict_aug(imgs, img_metas, rescale=rescale)


class BaseDetector(nn.Module):
    """Detector plumbing shared by every detector: the user boundary (MMDetection's
    ``forward``/``forward_train``/``forward_test`` with dicts and per-image lists, converted
    once into ``ImageMeta`` and ``Instances``) and the feature extractor.

    Subclasses provide ``backbone`` (+ optional ``neck``), :meth:`loss` (typed training),
    ``predict`` (→ ``list[DetectionResult]``), ``predict_aug`` and ``num_classes``.

    Args:
        channels_last: keep conv weights and the backbone/neck activations in
            ``torch.channels_last`` memory format (faster convolutions on CPU and with
            tensor cores); the RoI heads pool from float32 maps in the layout their
            RoIAlign reads (``roi_features``).
        compile: ``True`` or ``torch.compile`` keyword arguments: compile backbone + neck
            (``detkit.ops.LazyCompiled``); ``options`` (inductor settings, e.g.
            ``dict(freezing=True)`` to fold BatchNorm into the convs for inference) are
            patched into the inductor config per call.
    """

    backbone: nn.Module
    neck: nn.Module | None

    if TYPE_CHECKING:  # provided by the subclasses

        @property
        def num_classes(self) -> int: ...

        def predict(
            self,
            img: torch.Tensor,
            img_metas: Sequence[ImageMeta | Mapping[str, Any]],
            proposals: Sequence[torch.Tensor] | None = None,
            rescale: bool = False,
        ) -> list[DetectionResult]: ...

        def predict_aug(
            self,
            imgs: Sequence[torch.Tensor],
            img_metas: Sequence[Sequence[ImageMeta | Mapping[str, Any]]],
            rescale: bool = False,
        ) -> list[DetectionResult]: ...

    def __init__(
        self, channels_last: bool = False, compile: bool | Mapping[str, Any] | None = None
    ) -> None:  # noqa: A002
        super().__init__()
        if not isinstance(channels_last, bool):
            raise TypeError(f"model.channels_last must be a bool, got {channels_last!r}")
        compile_args = parse_compile_option(compile)
        self.channels_last = channels_last
        self.feature_compiler = (
            LazyCompiled(self._features, *compile_args) if compile_args is not None else None
        )

    def _features(self, img: torch.Tensor) -> FeaturePyramid:
        x = self.backbone(img)
        neck = getattr(self, "neck", None)
        return FeaturePyramid.of(neck(x) if neck is not None else x)

    def extract_feat(self, img: torch.Tensor) -> FeaturePyramid:
        """Backbone (+ neck) features of ``img`` ``[B, 3, H, W]``, finest level first."""
        if self.channels_last:
            img = to_channels_last(img)
        if self.feature_compiler is None:
            return self._features(img)
        feats: FeaturePyramid = self.feature_compiler(img)
        return feats

    def extract_feats(self, imgs: Sequence[torch.Tensor]) -> list[FeaturePyramid]:
        return [self.extract_feat(img) for img in imgs]

    def apply_memory_format(self) -> None:
        """Move every conv weight to channels_last when configured."""
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    @staticmethod
    def roi_features(x: FeaturePyramid) -> FeaturePyramid:
        """The pyramid the RoI head pools from: every map (laterals included) in float32 and
        in the layout its RoIAlign reads (``detkit.ops.roi_pooling_layout``), converted once
        here rather than once per pooling call."""
        return x.map(roi_pooling_layout)

    def forward(self, img: Any, img_metas: Any, return_loss: bool = True, **kwargs: Any) -> Any:
        """``return_loss=True``: ``forward_train(img, img_metas, **kwargs)`` → loss dict;
        else ``forward_test(img, img_metas, **kwargs)`` → per-image mmdet results."""
        if return_loss:
            return self.forward_train(img, img_metas, **kwargs)
        return self.forward_test(img, img_metas, **kwargs)

    def forward_train(
        self,
        img: torch.Tensor,
        img_metas: Sequence[Mapping[str, Any]],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
        gt_masks: Sequence[Any] | None = None,
        proposals: Sequence[torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Loss dict of a training batch in MMDetection v2's form: ``img`` ``[B, 3, H, W]``,
        ``img_metas`` dicts, per-image ``gt_bboxes`` (float32 ``[N_i, 4]`` xyxy input pixels),
        ``gt_labels`` (int64 ``[N_i]``), ``gt_masks`` (``BitmapMasks``/``PolygonMasks`` or
        ``[N_i, H, W]`` tensors at pad size), ``gt_bboxes_ignore`` and ``proposals``
        (``[N_i, 4 or 5]``). Converted once here into typed structures (``ImageMeta``,
        ``list[Instances]``) for :meth:`loss`; the dicts are not modified."""
        metas = image_metas(img_metas)
        return self.loss(
            img,
            metas,
            mmdet.gt_instances(metas, gt_bboxes, gt_labels, gt_masks),
            mmdet.ignored_instances(metas, gt_bboxes_ignore),
            None if proposals is None else mmdet.proposals_from_mmdet(proposals),
        )

    def loss(
        self,
        img: torch.Tensor,
        metas: Sequence[ImageMeta],
        gt: Sequence[Instances],
        ignored: Sequence[Instances] | None = None,
        proposals: Instances | None = None,
    ) -> dict[str, Any]:
        """Loss dict of a batch from typed targets (see the subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def forward_test(
        self, imgs: list[torch.Tensor], img_metas: list[list[dict[str, Any]]], **kwargs: Any
    ) -> list[Any]:
        """``imgs``/``img_metas``: lists over test-time augmentations (:func:`predict_views`);
        per image MMDetection v2's result (``DetectionResult.to_mmdet``)."""
        return [
            r.to_mmdet(self.num_classes) for r in predict_views(self, imgs, img_metas, **kwargs)
        ]

    def simple_test(
        self,
        img: torch.Tensor,
        img_metas: Sequence[Mapping[str, Any]],
        proposals: Sequence[torch.Tensor] | None = None,
        rescale: bool = False,
    ) -> list[Any]:
        """MMDetection v2's call: per image the mmdet result of :meth:`predict`."""
        results = self.predict(img, img_metas, proposals=proposals, rescale=rescale)
        return [r.to_mmdet(self.num_classes) for r in results]

    def aug_test(
        self,
        imgs: Sequence[torch.Tensor],
        img_metas: Sequence[Sequence[Mapping[str, Any]]],
        rescale: bool = False,
    ) -> list[Any]:
        """MMDetection v2's call: the merged mmdet result of one image's views."""
        return [r.to_mmdet(self.num_classes) for r in self.predict_aug(imgs, img_metas, rescale)]

    def train_step(self, data: Mapping[str, Any], optimizer: Any = None) -> dict[str, Any]:
        """``self(**data)`` then :func:`parse_losses`: ``dict(loss, log_vars, num_samples)``."""
        loss, log_vars = parse_losses(self(**data))
        return {"loss": loss, "log_vars": log_vars, "num_samples": len(data["img_metas"])}

    def val_step(self, data: Mapping[str, Any], optimizer: Any = None) -> dict[str, Any]:
        return self.train_step(data, optimizer)
