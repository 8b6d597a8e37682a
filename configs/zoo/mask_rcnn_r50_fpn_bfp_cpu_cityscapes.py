# Libra R-CNN's neck: FPN followed by the Balanced Feature Pyramid, a list of necks
# (MMDetection's configs/libra_rcnn/libra_faster_rcnn_r50_fpn_1x_coco.py, neck part)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    neck=[
        dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
        dict(type='BFP', in_channels=256, num_levels=5, refine_level=2, refine_type='non_local'),
    ])
