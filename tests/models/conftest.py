"""Tiny detector configs (R18 at 8-16 channels) for fast CPU tests of the model package."""

import copy

import pytest

_STDS = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])


def _assigner(thr, low_quality):
    return dict(
        type="MaxIoUAssigner",
        pos_iou_thr=thr,
        neg_iou_thr=thr,
        min_pos_iou=thr,
        match_low_quality=low_quality,
        ignore_iof_thr=-1,
    )


def _bbox_head(num_classes, stds, agnostic, width):
    return dict(
        type="Shared2FCBBoxHead",
        in_channels=width,
        fc_out_channels=32,
        roi_feat_size=7,
        num_classes=num_classes,
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=stds),
        reg_class_agnostic=agnostic,
        loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),
    )


def make_tiny_cfg(detector="CascadeRCNN", num_classes=3, width=16, with_mask=True):
    """Model config dict of a tiny two-stage detector with the mmdet base train/test cfgs."""

    def extractor(size: int) -> dict:
        return dict(
            type="SingleRoIExtractor",
            roi_layer=dict(type="RoIAlign", output_size=size, sampling_ratio=0),
            out_channels=width,
            featmap_strides=[4, 8, 16, 32],
        )

    mask_head = dict(
        type="FCNMaskHead",
        num_convs=2,
        in_channels=width,
        conv_out_channels=width,
        num_classes=num_classes,
        loss_mask=dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0),
    )
    rcnn_sampler = dict(
        type="RandomSampler", num=128, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True
    )
    if detector == "CascadeRCNN":
        roi_head = dict(
            type="CascadeRoIHead",
            num_stages=3,
            stage_loss_weights=[1, 0.5, 0.25],
            bbox_roi_extractor=extractor(7),
            bbox_head=[_bbox_head(num_classes, s, True, width) for s in _STDS],
        )
        rcnn_train = [
            dict(assigner=_assigner(t, False), sampler=rcnn_sampler, mask_size=28, pos_weight=-1)
            for t in (0.5, 0.6, 0.7)
        ]
    else:
        roi_head = dict(
            type="StandardRoIHead",
            bbox_roi_extractor=extractor(7),
            bbox_head=_bbox_head(num_classes, _STDS[0], False, width),
        )
        rcnn_train = dict(
            assigner=_assigner(0.5, True), sampler=rcnn_sampler, mask_size=28, pos_weight=-1
        )
    if with_mask:
        roi_head.update(mask_roi_extractor=extractor(14), mask_head=mask_head)
    return dict(
        type=detector,
        backbone=dict(
            type="ResNet",
            depth=18,
            base_channels=8,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            frozen_stages=-1,
            norm_cfg=dict(type="BN", requires_grad=True),
            norm_eval=True,
            style="pytorch",
            init_cfg=None,
        ),
        neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=width, num_outs=5),
        rpn_head=dict(
            type="RPNHead",
            in_channels=width,
            feat_channels=width,
            anchor_generator=dict(
                type="AnchorGenerator",
                scales=[8],
                ratios=[0.5, 1.0, 2.0],
                strides=[4, 8, 16, 32, 64],
            ),
            bbox_coder=dict(
                type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4
            ),
            loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
            loss_bbox=dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0),
        ),
        roi_head=roi_head,
        train_cfg=dict(
            rpn=dict(
                assigner=dict(
                    type="MaxIoUAssigner",
                    pos_iou_thr=0.7,
                    neg_iou_thr=0.3,
                    min_pos_iou=0.3,
                    match_low_quality=True,
                    ignore_iof_thr=-1,
                ),
                sampler=dict(
                    type="RandomSampler",
                    num=128,
                    pos_fraction=0.5,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=False,
                ),
                allowed_border=-1,
                pos_weight=-1,
            ),
            rpn_proposal=dict(
                nms_pre=500,
                max_per_img=300,
                nms=dict(type="nms", iou_threshold=0.7),
                min_bbox_size=0,
            ),
            rcnn=rcnn_train,
        ),
        test_cfg=dict(
            rpn=dict(
                nms_pre=500,
                max_per_img=300,
                nms=dict(type="nms", iou_threshold=0.7),
                min_bbox_size=0,
            ),
            rcnn=dict(
                score_thr=0.05,
                nms=dict(type="nms", iou_threshold=0.5),
                max_per_img=50,
                mask_thr_binary=0.5,
            ),
        ),
    )


@pytest.fixture
def tiny_cfg():
    """Factory: ``tiny_cfg(detector='CascadeRCNN', num_classes=3, ...)`` → a fresh dict."""
    return lambda *args, **kwargs: copy.deepcopy(make_tiny_cfg(*args, **kwargs))
