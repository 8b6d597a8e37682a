# Res2Net-50 26w4s backbone (MMDetection's configs/res2net/mask_rcnn_r2_101_fpn_2x_coco.py, at
# depth 50)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(backbone=dict(type='Res2Net', depth=50, scales=4, base_width=26))
