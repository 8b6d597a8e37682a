"""``FCNMaskHead`` (MMDetection v2): 4 convs → deconv → per-class 28×28 mask logits, mask
targets and loss. Its probabilities are pasted into the image by the detections' ``RoIMasks``
(:mod:`detkit.structures.detections`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn as nn
from torchvision.ops import roi_align

from detkit.models.layers import ConvModule
from detkit.models.task_modules import SamplingResult
from detkit.ops import Conv2d, ConvTranspose2d, roi_conv_stack
from detkit.registry import MODELS, build
from detkit.structures.instances import Instances
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = ["FCNMaskHead", "mask_targets"]


def _as_mask_structure(gt_masks: Any, where: str) -> Any:
    """``BitmapMasks``/``PolygonMasks`` as they are; a ``[N, H, W]`` tensor as BitmapMasks."""
    if isinstance(gt_masks, (BitmapMasks, PolygonMasks)):
        return gt_masks
    if isinstance(gt_masks, torch.Tensor) and gt_masks.dim() == 3:
        arr = gt_masks.detach().to(torch.uint8).cpu().numpy()
        return BitmapMasks(arr, arr.shape[1], arr.shape[2])
    raise TypeError(
        f"{where}: gt_masks must be BitmapMasks, PolygonMasks or a [N, H, W] "
        f"tensor, got {type(gt_masks).__name__}"
    )


def _crop_tensor_masks(
    masks: torch.Tensor,
    boxes: torch.Tensor,
    inds: torch.Tensor,
    size: tuple[int, int],
    binarize: bool,
) -> torch.Tensor:
    """``BitmapMasks.crop_and_resize`` on a ``[N, H, W]`` tensor where it lies (a device batch's
    masks stay on the device): boxes clipped to the canvas, RoIAlign (aligned, adaptive
    sampling), ``>= 0.5`` when ``binarize``; ``[K, s, s]`` float."""
    height, width = masks.shape[-2:]
    rois = boxes.detach().float().clone()
    rois[:, [0, 2]] = rois[:, [0, 2]].clamp(0, width)
    rois[:, [1, 3]] = rois[:, [1, 3]].clamp(0, height)
    index = torch.arange(len(rois), device=rois.device, dtype=rois.dtype)[:, None]
    picked = masks.to(rois.device).index_select(0, inds.to(rois.device).long()).float()[:, None]
    targets: torch.Tensor = roi_align(picked, torch.cat([index, rois], 1), size, 1.0, 0, True)
    targets = targets.squeeze(1)
    return (targets >= 0.5).float() if binarize else targets


def mask_targets(
    sampling_results: Sequence[SamplingResult],
    gt_masks: Sequence[Any],
    mask_size: int | Sequence[int],
    binarize: bool = True,
) -> torch.Tensor:
    """Targets ``[P, s, s]`` float (0/1 when ``binarize``) for all positives: each positive
    box, clipped to the mask canvas, crops its gt mask (RoIAlign, aligned, for bitmaps and
    ``[N, H, W]`` tensors, the latter on their own device; shifted and rasterised for
    polygons)."""
    size = (
        (mask_size, mask_size)
        if isinstance(mask_size, int)
        else cast("tuple[int, int]", tuple(mask_size))
    )
    out = []
    for res, masks in zip(sampling_results, gt_masks):
        proposals = res.pos_bboxes
        if proposals.size(0) == 0:
            out.append(proposals.new_zeros((0,) + size))
            continue
        if isinstance(masks, torch.Tensor) and masks.dim() == 3:
            out.append(
                _crop_tensor_masks(masks, proposals, res.pos_assigned_gt_inds, size, binarize)
            )
            continue
        structure = _as_mask_structure(masks, "mask_targets")
        boxes = proposals.detach().float().cpu().clone()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, structure.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, structure.height)
        cropped = structure.crop_and_resize(
            boxes.to(proposals.device),
            size,
            res.pos_assigned_gt_inds,
            device=proposals.device,
            binarize=binarize,
        ).to_ndarray()
        out.append(torch.from_numpy(np.asarray(cropped)).float().to(proposals.device))
    return torch.cat(out)


@MODELS.register_module()
class FCNMaskHead(nn.Module):
    """Mask head of Mask R-CNN.

    Args:
        num_convs, roi_feat_size, in_channels, conv_kernel_size, conv_out_channels: convs.
        num_classes: one mask channel per class (no background channel).
        class_agnostic: a single mask channel.
        upsample_cfg: ``dict(type='deconv', scale_factor=2)`` (only deconv is supported).
        conv_cfg, norm_cfg: for the ConvModules.
        predictor_cfg: ``dict(type='Conv')``.
        loss_mask: mask loss config (default: MMDetection v2's ``FCNMaskHead`` signature
            default).
        init_cfg: must be None (mmdet).

    ``forward(x, labels=None)``: ``[K, in_channels, s, s]`` → logits ``[K, C, 2s, 2s]``; with
    ``labels`` ``[K]`` only each RoI's own class channel is computed: ``[K, 1, 2s, 2s]`` (what
    the loss and the pasted masks use; the other channels are never read). Tensor-only
    (``exportable``).
    """

    exportable: ClassVar[bool] = True

    def __init__(
        self,
        num_convs: int = 4,
        roi_feat_size: int = 14,
        in_channels: int = 256,
        conv_kernel_size: int = 3,
        conv_out_channels: int = 256,
        num_classes: int = 80,
        class_agnostic: bool = False,
        upsample_cfg: Mapping[str, Any] | None = None,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        predictor_cfg: Mapping[str, Any] | None = None,
        loss_mask: Mapping[str, Any] = {  # noqa: B006 - read only
            "type": "CrossEntropyLoss",
            "use_mask": True,
            "loss_weight": 1.0,
        },
        init_cfg: Any = None,
    ) -> None:
        super().__init__()
        if init_cfg is not None:
            raise ValueError("FCNMaskHead: init_cfg must be None (its init is fixed)")
        upsample_cfg = dict(upsample_cfg or {"type": "deconv", "scale_factor": 2})
        if upsample_cfg.get("type") != "deconv":
            raise KeyError(
                f"FCNMaskHead upsample_cfg type {upsample_cfg.get('type')!r} is not "
                "supported; use 'deconv'"
            )
        if predictor_cfg is not None and predictor_cfg.get("type", "Conv") not in (
            "Conv",
            "Conv2d",
        ):
            raise KeyError(f"FCNMaskHead predictor_cfg {predictor_cfg!r}: only Conv is supported")
        self.num_classes = num_classes
        self.class_agnostic = class_agnostic
        self.roi_feat_size = roi_feat_size
        self.loss_mask = build(loss_mask, MODELS)
        padding = (conv_kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            ConvModule(
                in_channels if i == 0 else conv_out_channels,
                conv_out_channels,
                conv_kernel_size,
                padding=padding,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
            )
            for i in range(num_convs)
        )
        last = conv_out_channels if num_convs > 0 else in_channels
        scale = upsample_cfg.get("scale_factor", 2)
        self.upsample = ConvTranspose2d(last, conv_out_channels, scale, stride=scale)
        self.relu = nn.ReLU(inplace=True)
        self.conv_logits = Conv2d(conv_out_channels, 1 if class_agnostic else num_classes, 1)
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out, relu) on every conv / deconv, biases 0."""
        for conv in self.convs:
            cast(ConvModule, conv).init_weights()
        for m in (self.upsample, self.conv_logits):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(cast(torch.Tensor, m.bias), 0)  # both built with a bias

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self._convs(x)
        x = self.relu(self.upsample(x))
        if labels is None or self.conv_logits.out_channels == 1:
            logits: torch.Tensor = self.conv_logits(x)
            return logits
        return self._class_logits(x, labels)

    def _convs(self, x: torch.Tensor) -> torch.Tensor:
        """The convs on RoI maps ``[K, C, s, s]``, per RoI or on one mosaic of the maps,
        whichever measured faster (``detkit.ops.roi_conv_stack``; a norm layer rules the
        mosaic out)."""
        convs = cast(Sequence[ConvModule], self.convs)
        pixelwise = all(c.norm_name is None for c in convs)
        return roi_conv_stack(
            convs, x, cast("list[nn.Conv2d]", [c.conv for c in convs]) if pixelwise else None
        )

    def _class_logits(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The 1×1 logits conv for channel ``labels[k]`` of RoI k only: ``[K, 1, h, w]``."""
        weight = self.conv_logits.weight[labels, :, 0, 0].unsqueeze(1).to(x.dtype)  # [K, 1, C]
        logits = torch.bmm(weight, x.flatten(2))  # [K, 1, h*w]
        bias = cast(torch.Tensor, self.conv_logits.bias)  # built with a bias
        logits = logits + bias[labels].to(x.dtype)[:, None, None]
        return logits.view(x.size(0), 1, *x.shape[2:])

    def get_targets(
        self,
        sampling_results: Sequence[SamplingResult],
        gt_instances: Sequence[Instances],
        rcnn_train_cfg: Mapping[str, Any],
    ) -> torch.Tensor:
        """Mask targets ``[P, mask_size, mask_size]`` of the positives from the ``masks`` of
        each image's ground truth (see :func:`mask_targets`)."""
        if any(not gt.has("masks") for gt in gt_instances):
            raise ValueError("a model with a mask head needs gt_masks for training")
        return mask_targets(
            sampling_results,
            [gt.masks for gt in gt_instances],
            rcnn_train_cfg["mask_size"],
            binarize=not rcnn_train_cfg.get("soft_mask_target", False),
        )

    def loss(
        self, mask_pred: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``loss_mask``: BCE on the gt-class channel, mean over all pixels; 0 with no RoIs.
        ``mask_pred`` is ``[P, C, m, m]`` or, from ``forward(x, labels)``, ``[P, 1, m, m]``."""
        if mask_pred.size(0) == 0:
            return {"loss_mask": mask_pred.sum()}
        if mask_pred.size(1) == 1:
            labels = torch.zeros_like(labels)
        return {"loss_mask": self.loss_mask(mask_pred.float(), targets, labels)}
