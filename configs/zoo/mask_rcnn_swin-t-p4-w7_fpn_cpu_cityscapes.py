# Swin-T backbone (MMDetection's configs/swin/mask_rcnn_swin-t-p4-w7_fpn_1x_coco.py); with the
# official ImageNet weights set init_cfg=dict(type='Pretrained', checkpoint=<swin_tiny .pth>)
# (convert_weights=True converts the original repository's keys)
_base_ = './_base_/mask_rcnn_r50_fpn_cpu_cityscapes.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.2,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        convert_weights=True,
        init_cfg=None),
    neck=dict(in_channels=[96, 192, 384, 768]))
