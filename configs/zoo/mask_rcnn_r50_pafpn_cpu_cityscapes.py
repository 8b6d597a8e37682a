# PAFPN neck (MMDetection's configs/pafpn/faster_rcnn_r50_pafpn_1x_coco.py, on Mask R-CNN)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    neck=dict(
        type='PAFPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5))
