# Modulated deformable RoI pooling for the box branch (MMDetection's
# configs/dcn/faster_rcnn_r50_fpn_mdpool_1x_coco.py, on this folder's Mask R-CNN base)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(
                _delete_=True,
                type='ModulatedDeformRoIPoolPack',
                output_size=7,
                output_channels=256),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32])))
