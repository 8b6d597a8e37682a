# Modulated deformable convolutions (DCNv2) in stages 2-4 (MMDetection's
# configs/dcn/mask_rcnn_r50_fpn_mdconv_c3-c5_1x_coco.py)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))
