# HRNetV2p-W18 backbone with the HRFPN neck (MMDetection's
# configs/hrnet/mask_rcnn_hrnetv2p_w18_1x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ),
                        num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4),
                        num_channels=(18, 36)),
            stage3=dict(num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4),
                        num_channels=(18, 36, 72)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(18, 36, 72, 144))),
        init_cfg=None),
    neck=dict(_delete_=True, type='HRFPN', in_channels=[18, 36, 72, 144], out_channels=256))
