# FPN_CARAFE neck (MMDetection's configs/carafe/mask_rcnn_r50_fpn_carafe_1x_coco.py, neck part)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    neck=dict(
        _delete_=True,
        type='FPN_CARAFE',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        start_level=0,
        end_level=-1,
        norm_cfg=None,
        act_cfg=None,
        order=('conv', 'norm', 'act'),
        upsample_cfg=dict(
            type='carafe', up_kernel=5, up_group=1, encoder_kernel=3,
            encoder_dilation=1, compressed_channels=64)))
