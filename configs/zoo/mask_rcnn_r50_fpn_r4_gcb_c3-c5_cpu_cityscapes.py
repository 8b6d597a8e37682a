# GCNet: a ContextBlock plugin after conv3 of every bottleneck in stages 2-4 (MMDetection's
# configs/gcnet/mask_rcnn_r50_fpn_r4_gcb_c3-c5_1x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(plugins=[
        dict(
            cfg=dict(type='ContextBlock', ratio=1. / 4),
            stages=(False, True, True, True),
            position='after_conv3')
    ]))
