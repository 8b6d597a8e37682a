# ResNeXt-101 32x4d backbone (MMDetection's configs/mask_rcnn/mask_rcnn_x101_32x4d_fpn_1x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None))
