# CPU-sized demo of the seed config (`make demo`): the same Cascade Mask R-CNN + AugFPN +
# AutoAugment (Rotate/Translate), shrunk to train from scratch in ~12 min on 2 CPU cores on the
# generated 512x256 Cityscapes-format sample (data/cityscapes_sample, `make data`).
# Shrinking as in the calibration run: ResNet-18 with 32 base channels, 64-channel
# neck, anchor ratios 1:3 / 1:1 / 3:1, 500/300 proposals, AdamW; 128 RoIs per image and stage.
_base_ = './cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py'

neck_channels = 64
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,  # nothing pretrained: train every stage
        norm_eval=False,  # and let BatchNorm learn its statistics
        init_cfg=None,
    ),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=neck_channels),
    rpn_head=dict(
        in_channels=neck_channels,
        feat_channels=neck_channels,
        anchor_generator=dict(ratios=[0.33, 1.0, 3.0]),
    ),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=neck_channels),
        mask_roi_extractor=dict(out_channels=neck_channels),
        bbox_head=[
            dict(
                type='Shared2FCBBoxHead',
                in_channels=neck_channels,
                fc_out_channels=256,
                roi_feat_size=7,
                num_classes=8,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds),
                reg_class_agnostic=True,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_head=dict(in_channels=neck_channels, conv_out_channels=neck_channels),
    ),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        # 128 sampled RoIs per image and stage instead of 512: a few objects per image need
        # no more, and torchvision's CPU RoIAlign backward dominates the step time otherwise
        rcnn=[
            dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=iou,
                    neg_iou_thr=iou,
                    min_pos_iou=iou,
                    match_low_quality=False,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=128,
                    pos_fraction=0.25,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=True),
                mask_size=28,
                pos_weight=-1,
                debug=False) for iou in (0.5, 0.6, 0.7)
        ]),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)),
)

img_scale = (512, 256)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
fill = (124, 116, 104)
train_pipeline = [
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

# AdamW trains this from-scratch model much faster than the seed's SGD (issue 7 calibration).
optimizer = dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05)
optimizer_config = dict(_delete_=True, grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=100, warmup_ratio=0.001, step=[4])
max_epochs = 5
runner = dict(type='EpochBasedRunner', max_epochs=max_epochs)
total_epochs = max_epochs  # the seed's legacy key must agree with runner.max_epochs
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
evaluation = dict(interval=5, metric=['bbox', 'segm'])
log_config = dict(interval=10)
load_from = None
