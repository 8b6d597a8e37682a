# RegNetX-3.2GF backbone (MMDetection's configs/regnet/mask_rcnn_regnetx-3.2GF_fpn_1x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='RegNet',
        arch='regnetx_3.2gf',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(type='FPN', in_channels=[96, 192, 432, 1008], out_channels=256, num_outs=5))
