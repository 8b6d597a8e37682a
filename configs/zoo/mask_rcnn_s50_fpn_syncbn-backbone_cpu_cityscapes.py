# ResNeSt-50 backbone (MMDetection's configs/resnest/
# mask_rcnn_s50_fpn_syncbn-backbone+head_mstrain_1x_coco.py, backbone part); SyncBN is
# BatchNorm on one process and torch's SyncBatchNorm under DDP
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNeSt',
        stem_channels=64,
        depth=50,
        radix=2,
        reduction_factor=4,
        avg_down_stride=True,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None))
