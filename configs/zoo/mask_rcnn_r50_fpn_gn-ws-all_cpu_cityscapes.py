# GroupNorm + weight standardisation in the backbone, neck and heads (MMDetection's
# configs/gn+ws/mask_rcnn_r50_fpn_gn_ws-all_2x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
conv_cfg = dict(type='ConvWS')
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg),
    neck=dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            # mmdet's Shared4Conv1FCBBoxHead: ConvFCBBoxHead with 4 shared convs and 1 fc
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            conv_out_channels=256,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg),
        mask_head=dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)))
