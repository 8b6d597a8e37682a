# The CPU-sized demo (cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py) with
# PhotoMetricDistortion and Simple Copy-Paste (Ghiasi et al., CVPR 2021) added.
# CopyPaste needs a second image of the same size: the inner dataset loads, augments, resizes
# and flips each image (Cityscapes images all share one size), and MultiImageMixDataset runs
# CopyPaste with one partner image, then the colour distortion and the formatting steps.
_base_ = './cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py'

img_scale = (512, 256)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
fill = (124, 116, 104)
load_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='AutoAugment',
        policies=[
            [dict(type='Rotate', level=5, img_fill_val=fill, prob=0.5, scale=1)],
            [
                dict(type='Rotate', level=7, img_fill_val=fill),
                dict(type='Translate', level=5, prob=0.5, img_fill_val=fill),
            ],
        ]),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
]
train_pipeline = [
    dict(type='CopyPaste', max_num_pasted=100, bbox_occluded_thr=10, mask_occluded_thr=300, selected=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
data_root = 'data/cityscapes_sample/'
data = dict(
    train=dict(
        times=4,
        dataset=dict(
            _delete_=True,
            type='MultiImageMixDataset',
            dataset=dict(
                type='CityscapesDataset',
                ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_train.json',
                img_prefix=data_root + 'leftImg8bit/train/',
                pipeline=load_pipeline),
            pipeline=train_pipeline)))
