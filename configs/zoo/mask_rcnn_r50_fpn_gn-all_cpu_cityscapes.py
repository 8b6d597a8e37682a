# GroupNorm in the backbone, neck and heads; the box head is Shared4Conv1FCBBoxHead with GN
# (MMDetection's configs/gn/mask_rcnn_r50_fpn_gn-all_2x_coco.py, without its pretrained
# detectron/resnet50_gn backbone: the CPU demos train from scratch)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
