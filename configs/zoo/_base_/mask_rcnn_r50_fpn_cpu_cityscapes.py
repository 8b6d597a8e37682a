# CPU-sized Mask R-CNN on the generated Cityscapes-format sample (data/cityscapes_sample,
# `make data`): the base of the zoo configs in this folder, which swap in MMDetection v2.28's
# backbones and necks (docs/zoo.md). Trained from scratch (no download): 512x256 images,
# 500/300 proposals, 128 RoIs per image, AdamW, as the seed's CPU demo.
_base_ = '../../cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py'

model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False, init_cfg=None),
    rpn_head=dict(anchor_generator=dict(ratios=[0.33, 1.0, 3.0])),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

img_scale = (512, 256)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=img_scale,
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='Pad', size_divisor=32),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ]),
]
data_root = 'data/cityscapes_sample/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=1,
    train=dict(
        times=4,
        dataset=dict(
            ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_train.json',
            img_prefix=data_root + 'leftImg8bit/train/',
            pipeline=train_pipeline)),
    val=dict(
        ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
        img_prefix=data_root + 'leftImg8bit/val/',
        pipeline=test_pipeline),
    test=dict(
        ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
        img_prefix=data_root + 'leftImg8bit/val/',
        pipeline=test_pipeline))

optimizer = dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=100, warmup_ratio=0.001, step=[8])
max_epochs = 10
runner = dict(type='EpochBasedRunner', max_epochs=max_epochs)
total_epochs = max_epochs
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
evaluation = dict(interval=5, metric=['bbox', 'segm'])
log_config = dict(interval=10)
load_from = None
